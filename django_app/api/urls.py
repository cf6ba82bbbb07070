"""Routes of the analytics API (mounted at ``/api/analytics/``)."""

from django.urls import path

from api import funnel, views

app_name = "api"

urlpatterns = [
    path("summary/", views.AnalyticsSummaryApi.as_view(), name="summary"),
    path("timeseries/", views.AnalyticsTimeseriesApi.as_view(), name="timeseries"),
    path("top-books/", views.TopBooksListApi.as_view(), name="top-books"),
    path("sales-by-region/", views.SalesByRegionApi.as_view(), name="sales-by-region"),
    path("sales-by-genre/", views.SalesByGenreApi.as_view(), name="sales-by-genre"),
    path("sales-by-channel/", views.SalesByChannelApi.as_view(), name="sales-by-channel"),
    path("top-customers/", views.TopCustomersListApi.as_view(), name="top-customers"),
    path("monthly-revenue/", views.MonthlyRevenueApi.as_view(), name="monthly-revenue"),
    path("pipeline-status/", views.PipelineStatusApi.as_view(), name="pipeline-status"),
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
