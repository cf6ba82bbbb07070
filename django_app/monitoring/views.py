"""``/metrics``: the Prometheus scrape target.

Who may read it: a scraper with ``Authorization: Bearer <SALESPULSE_METRICS_TOKEN>`` (when that
variable is set), or a logged-in staff member (to look at it in a browser).  Everyone else gets
401 (no or wrong credentials, with ``WWW-Authenticate: Bearer``) or 403 (logged in, not staff).
The view opts out of the login redirect because a scraper cannot follow a login form; it does
its own check instead.  Without a token configured only staff sessions get in, so a deployment
never exposes its numbers by forgetting to set one.
"""

from __future__ import annotations

import hmac

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from monitoring.exposition import CONTENT_TYPE, render
from monitoring.selectors import metrics_collect
from salespulse import services


def bearer_token_ok(request: HttpRequest, expected: str | None) -> bool:
    """Constant-time comparison of the request's bearer token with the configured one."""
    if not expected:
        return False
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected.encode())


@login_not_required
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    token = getattr(settings, "METRICS_TOKEN", None)
    if not (bearer_token_ok(request, token) or request.user.is_staff):
        if request.user.is_authenticated and "Authorization" not in request.headers:
            return HttpResponse("staff only\n", status=403, content_type="text/plain")
        response = HttpResponse("authentication required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="salespulse-metrics"'
        return response
    response = HttpResponse(render(metrics_collect()), content_type=CONTENT_TYPE)
    response["Cache-Control"] = "no-store"
    return response


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and compose health checks: both stores answer, nothing else.

    Anonymous on purpose (a health probe has no session); it reveals no numbers.
    """
    checks = {"database": "ok", "redis": "ok"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        redis.Redis.from_url(services.urls().redis, socket_timeout=2).ping()
    except redis.RedisError as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if healthy else "degraded", **checks}, status=200 if healthy else 503)
