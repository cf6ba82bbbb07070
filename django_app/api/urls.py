"""Routes of the analytics API (mounted at ``/api/analytics/``).

The read endpoints are async views (:mod:`api.serving`) described by their DRF classes;
``config/asgi.py`` serves exactly these routes without the middleware chain.
"""

from django.urls import path

from api import funnel, views
from api.serving import AnalyticsEndpoint, PipelineStatusEndpoint, endpoint_view

app_name = "api"


def read(api: type) -> object:
    return endpoint_view(AnalyticsEndpoint(api), api)


urlpatterns = [
    path("summary/", read(views.AnalyticsSummaryApi), name="summary"),
    path("timeseries/", read(views.AnalyticsTimeseriesApi), name="timeseries"),
    path("top-books/", read(views.TopBooksListApi), name="top-books"),
    path("sales-by-region/", read(views.SalesByRegionApi), name="sales-by-region"),
    path("sales-by-genre/", read(views.SalesByGenreApi), name="sales-by-genre"),
    path("sales-by-channel/", read(views.SalesByChannelApi), name="sales-by-channel"),
    path("top-customers/", read(views.TopCustomersListApi), name="top-customers"),
    path("monthly-revenue/", read(views.MonthlyRevenueApi), name="monthly-revenue"),
    path(
        "pipeline-status/",
        endpoint_view(PipelineStatusEndpoint(views.PipelineStatusApi), views.PipelineStatusApi),
        name="pipeline-status",
    ),
    path("funnel/", funnel.FunnelApi.as_view(), name="funnel"),
    path("insights/", views.InsightsListApi.as_view(), name="insights"),
    path("alerts/", views.AlertsListApi.as_view(), name="alerts"),
    path("explore/", views.ExploreQueryApi.as_view(), name="explore"),
    path("generate-test-data/", views.TestDataGenerateApi.as_view(), name="generate-test-data"),
    path(
        "generate-test-data/<str:job_id>/",
        views.TestDataJobDetailApi.as_view(),
        name="generate-test-data-status",
    ),
]
