"""Analytics API views: thin wrappers that validate, call a selector, and answer.

Naming follows the HackSoftware styleguide (``<Entity><Action>Api``).  All
analytics reads share :class:`AnalyticsApi`: parse the query string with
:func:`api.params.parse_query` (a bad value is a 400 naming the parameter),
load the layer markers once, and hand both to the endpoint's selector.

The read endpoints of ``/api/analytics/`` are *served* by the async views of
:mod:`api.serving` (see ``api/urls.py``), built from these classes: a class holds an
endpoint's options (filters, ``by`` choices, default range, selector, the speed views
it reads) and its OpenAPI description; its DRF ``get`` is the same answer through DRF.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.db import ProgrammingError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from api import analytics, services
from api.explore import MAX_ROW_CAP, MAX_TIMEOUT_S, explore_audit_list, explore_query_run
from api.insights import alerts_get, insights_get
from api.params import FILTER_CHOICES, MAX_DAYS, MAX_LIMIT, AnalyticsQuery, ParamError, parse_query
from api.pipeline import pipeline_status_get

UNDEFINED_TABLE = "42P01"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler plus: a :class:`ParamError` is a 400 that names the parameter, and a
    published watermark whose warehouse tables are missing is a 503 saying so."""
    if isinstance(exc, ParamError):
        return Response({"error": str(exc), "param": exc.param}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ProgrammingError) and getattr(exc.__cause__, "pgcode", None) == UNDEFINED_TABLE:
        return Response(
            {"error": f"warehouse not available: {str(exc).splitlines()[0]}"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    return drf_exception_handler(exc, context)


def _params(*, filters: tuple[str, ...] = (), by: tuple[str, ...] = (), interval: bool = False,
            limit: bool = False, default_days: int = 30) -> list[OpenApiParameter]:  # fmt: skip
    out = [
        OpenApiParameter(
            "days", int, description=f"days back from end (default {default_days}, max {MAX_DAYS})"
        ),
        OpenApiParameter("start", OpenApiTypes.DATE, description="first day, inclusive (YYYY-MM-DD)"),
        OpenApiParameter("end", OpenApiTypes.DATE, description="last day, inclusive (default today, UTC)"),
    ]
    if interval:
        out.append(
            OpenApiParameter("interval", str, enum=["day", "week", "month"], description="bucket size")
        )
    if limit:
        out.append(
            OpenApiParameter("limit", int, description=f"rows to return (default 10, max {MAX_LIMIT})")
        )
    if by:
        out.append(OpenApiParameter("by", str, enum=list(by), description="ranking measure"))
    for name in filters:
        out.append(
            OpenApiParameter(name, str, enum=list(FILTER_CHOICES[name]), description=f"only this {name}")
        )
    return out


class AnalyticsApi(APIView):
    """Shared GET flow of every analytics endpoint."""

    filters: ClassVar[tuple[str, ...]] = ()
    by_choices: ClassVar[tuple[str, ...]] = ("revenue",)
    default_days: ClassVar[int] = 30
    #: Speed views the selector reads: "totals" (or the filtered dimension's), a dimension,
    #: or "book"/"customer" (their revenue and units sorted sets).
    speed_kind: ClassVar[str] = "totals"
    #: Intervals whose standard ranges are computed ahead after a publish (api.serving.warm).
    warm_intervals: ClassVar[tuple[str, ...]] = ("day",)
    selector: ClassVar[Callable[[AnalyticsQuery, analytics.Context], dict[str, Any]]]

    def get(self, request: Request) -> Response:
        ctx = analytics.Context.load()
        query = parse_query(
            request.query_params,
            today=ctx.today,
            default_days=self.default_days,
            filters=self.filters,
            by_choices=self.by_choices,
        )
        return Response(type(self).selector(query, ctx))


class AnalyticsSummaryApi(AnalyticsApi):
    filters = ("region", "genre", "channel")
    selector = staticmethod(analytics.summary_get)

    @extend_schema(
        summary="KPI totals over a range",
        parameters=_params(filters=filters),
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class AnalyticsTimeseriesApi(AnalyticsApi):
    filters = ("region", "genre", "channel")
    warm_intervals = ("day", "week", "month")
    selector = staticmethod(analytics.timeseries_get)

    @extend_schema(
        summary="Totals per day, ISO week or month (zero-filled)",
        parameters=_params(filters=filters, interval=True),
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class MonthlyRevenueApi(AnalyticsApi):
    filters = ("region", "genre", "channel")
    default_days = 365
    selector = staticmethod(analytics.monthly_revenue_get)

    @extend_schema(
        summary="Monthly revenue trend with month-over-month growth",
        parameters=_params(filters=filters, default_days=365),
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class TopBooksListApi(AnalyticsApi):
    filters = ("genre",)
    speed_kind = "book"
    by_choices = ("revenue", "units")
    selector = staticmethod(analytics.top_books_get)

    @extend_schema(
        summary="Exact top books by revenue or units",
        parameters=_params(filters=filters, by=by_choices, limit=True),
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class TopCustomersListApi(AnalyticsApi):
    speed_kind = "customer"
    by_choices = ("revenue", "quantity")
    selector = staticmethod(analytics.top_customers_get)

    @extend_schema(
        summary="Exact top customers by revenue or quantity",
        parameters=_params(by=by_choices, limit=True),
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class SalesByRegionApi(AnalyticsApi):
    speed_kind = "region"
    selector = staticmethod(lambda q, c: analytics.by_dimension_get("region", q, c))

    @extend_schema(summary="Sales per region", parameters=_params(), responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        return super().get(request)


class SalesByGenreApi(AnalyticsApi):
    speed_kind = "genre"
    selector = staticmethod(lambda q, c: analytics.by_dimension_get("genre", q, c))

    @extend_schema(summary="Sales per genre", parameters=_params(), responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        return super().get(request)


class SalesByChannelApi(AnalyticsApi):
    speed_kind = "channel"
    selector = staticmethod(lambda q, c: analytics.by_dimension_get("channel", q, c))

    @extend_schema(summary="Sales per channel", parameters=_params(), responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        return super().get(request)


class PipelineStatusApi(APIView):
    @extend_schema(
        summary="Batch runs, watermark, consumer lag/throughput, DLQ, quarantine and late events",
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        return Response(pipeline_status_get())


class TestDataGenerateApi(APIView):
    """Start generating sales (lake) and rebuilding the warehouse; staff only."""

    permission_classes = (IsAdminUser,)
    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "generate"

    class InputSerializer(serializers.Serializer):
        books = serializers.IntegerField(min_value=1, max_value=500_000, default=500)
        sales = serializers.IntegerField(min_value=1, max_value=10_000_000, default=10_000)
        skip_lake = serializers.BooleanField(default=False)
        skip_warehouse = serializers.BooleanField(default=False)

    @extend_schema(
        summary="Generate test data in the background (staff only)",
        request=InputSerializer,
        responses={
            202: inline_serializer(
                "GenerationJobStarted",
                {
                    "id": serializers.CharField(),
                    "status": serializers.CharField(),
                    "status_url": serializers.URLField(),
                },
            )
        },
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = services.generation_job_start(**data.validated_data, requested_by=request.user.get_username())
        url = reverse("api:generate-test-data-status", kwargs={"job_id": job["id"]}, request=request)
        return Response(
            {**job, "status_url": url}, status=status.HTTP_202_ACCEPTED, headers={"Location": url}
        )


class TestDataJobDetailApi(APIView):
    permission_classes = (IsAdminUser,)

    @extend_schema(summary="Progress of a generation job (staff only)", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, job_id: str) -> Response:
        job = services.JobStore().get(job_id)
        if job is None:
            return Response({"error": f"no such job {job_id}"}, status=status.HTTP_404_NOT_FOUND)
        return Response(job)


class InsightsListApi(APIView):
    """Quick insights (week/month changes, movers, anomalies, forecast) over batch + speed."""

    @extend_schema(
        summary="Quick insights: sentences with the numbers behind them (cached per batch run)",
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        return Response(insights_get())


class AlertsListApi(APIView):
    """Live-stream threshold alerts firing now (never cached; the live page polls it)."""

    @extend_schema(summary="Live-stream alerts firing now", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        return Response(alerts_get())


class ExploreQueryApi(APIView):
    """Staff ad-hoc SQL on the warehouse: GET lists the audit log, POST runs one read-only query.

    Only POST is throttled by the ``explore`` scope (each one is a database query, audited);
    reading the audit list after every run must not use up that budget.
    """

    permission_classes = (IsAdminUser,)
    throttle_scope = "explore"

    class ExploreInputSerializer(serializers.Serializer):
        # Blank and over-long SQL reach the guard, whose messages say what is wrong.
        sql = serializers.CharField(allow_blank=True, trim_whitespace=False)
        timeout_s = serializers.FloatField(min_value=0.1, max_value=MAX_TIMEOUT_S, required=False)
        row_cap = serializers.IntegerField(min_value=1, max_value=MAX_ROW_CAP, required=False)

    def get_throttles(self) -> list[BaseThrottle]:
        if self.request.method == "POST":
            return [ScopedRateThrottle()]
        return super().get_throttles()

    @extend_schema(summary="Recent Explore queries, newest first (staff only)", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        return Response({"recent": explore_audit_list()})

    @extend_schema(
        summary="Run one read-only SELECT on the warehouse (staff only, audited)",
        description=(
            "200 with columns/rows (at most row_cap, truncated if more) and duration_ms; "
            "400 kind=refused (write, DDL, several statements...) or kind=failed "
            "(code timeout, denied, read_only, sql_error) with a message; 503 if unreachable."
        ),
        request=ExploreInputSerializer,
        responses=OpenApiTypes.OBJECT,
    )
    def post(self, request: Request) -> Response:
        data = self.ExploreInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        answer = explore_query_run(
            data.validated_data["sql"],
            request.user.get_username(),
            timeout_s=data.validated_data.get("timeout_s"),
            row_cap=data.validated_data.get("row_cap"),
        )
        return Response(answer.body, status=answer.status)
