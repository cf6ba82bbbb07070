"""The analytics read endpoints' hot path: async views, no thread hop on a warm cache.

Each read endpoint under ``/api/analytics/`` is one ``async def`` view built by
:func:`analytics_view` from its DRF class in :mod:`api.views`, which keeps its
options (filters, ``by`` choices, default range) and documents it in the OpenAPI
schema.  A request costs, when warm:

1. authentication from a few seconds' memory of token and session lookups
   (:func:`authenticate`; a miss asks PostgreSQL in a thread, with Django's own
   checks: token owner active, session auth hash valid);
2. one Redis round trip (:func:`throttle_and_markers`) for the throttle counter, the
   layer markers (watermark, latest published run) and the speed views of the days from
   the watermark on (:class:`api.speed.ReadAhead`; the days are those of the last
   watermark seen, read again in a second round trip only when a publish has moved it);
3. the endpoint's selector from :mod:`api.analytics`, run on the event loop under
   :func:`api.localcache.no_io`: its batch part comes from the worker's memory,
   keyed by the published run.  If something is not there the pass stops with
   :class:`~api.localcache.NeedsIO` and the selector runs again in a thread, where it
   reads the shared cache or PostgreSQL; concurrent requests for the same answer
   wait for that one computation instead of starting their own.
4. ``orjson`` encoding.

The same views are in the URL configuration (tests and any request that comes through
Django's handler use them there); :class:`FastPathApp` serves them straight from the
ASGI scope, without Django's middleware chain, whose sync middleware would cost a
thread hop each way per request under ASGI.  What that chain does for these GETs is
done here: the allowed-hosts check, and the security and frame-options headers of
``SecurityMiddleware`` and ``XFrameOptionsMiddleware`` (pure functions of the request).
Sessions are only read, CSRF does not apply to GET, nothing is anonymous.

Throttling is the ``user`` rate of ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` as a
fixed window per user in Redis (``INCR`` in the round trip that reads the markers), so it
holds across workers.  Revoking a token or ending a session elsewhere takes effect within
:data:`AUTH_TTL_S` in each worker (at once in the worker that handled the logout).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import import_module
from typing import TYPE_CHECKING, Any

import orjson
import redis.asyncio
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.db import ProgrammingError, close_old_connections
from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.views.decorators.http import require_safe
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from api import analytics, localcache, speed
from api.params import AnalyticsQuery, ParamError, parse_query
from api.pipeline import status_compose, warehouse_part

if TYPE_CHECKING:
    from api.views import AnalyticsApi

log = logging.getLogger(__name__)

#: How long a worker trusts a token or session it has checked.
AUTH_TTL_S = float(os.environ.get("SALESPULSE_API_AUTH_CACHE_S", "10"))
#: How long the pipeline page's PostgreSQL/lake part is reused (runs in progress change it).
STATUS_TTL_S = 2.0
UNDEFINED_TABLE = "42P01"

Selector = Callable[[AnalyticsQuery, analytics.Context], dict[str, Any]]


# -- responses -----------------------------------------------------------------------


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    # The answer depends on who asks (authentication, throttling): never shared by a cache.
    headers = {"Vary": "Authorization, Cookie", **(headers or {})}
    return HttpResponse(orjson.dumps(body), status=status, content_type="application/json", headers=headers)


def unauthorized(detail: str) -> HttpResponse:
    # As DRF's TokenAuthentication answers: 401 with the scheme to use.
    return json_response({"detail": detail}, 401, {"WWW-Authenticate": "Token"})


# -- connections -----------------------------------------------------------------------

_clients: dict[int, tuple[asyncio.AbstractEventLoop, redis.asyncio.Redis]] = {}


def aredis() -> redis.asyncio.Redis:
    """The asyncio Redis client of the running event loop (daphne has one; each test call its own)."""
    loop = asyncio.get_running_loop()
    held = _clients.get(id(loop))
    if held is None or held[0] is not loop:
        for key, (other, _) in list(_clients.items()):
            if other.is_closed():
                del _clients[key]
        held = (loop, redis.asyncio.Redis.from_url(settings.REDIS_URL, decode_responses=True))
        _clients[id(loop)] = held
    return held[1]


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Run blocking work (PostgreSQL) in a worker thread, closing its connection as a request would."""

    def run() -> Any:
        try:
            return fn(*args)
        finally:
            close_old_connections()

    return await sync_to_async(run, thread_sensitive=False)()


# -- authentication and throttling ---------------------------------------------------------


def _token_user(key: str) -> int | None:
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    return token.user_id if token is not None and token.user.is_active else None


def _session_user(session_key: str) -> int | None:
    """Django's own session check (backend, auth hash, active user) on a request with only the session."""
    from django.contrib.auth import get_user

    request = HttpRequest()
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = get_user(request)
    return user.pk if user.is_authenticated and user.is_active else None


async def _remembered(kind: str, secret: str, lookup: Callable[[str], int | None]) -> int | None:
    key = f"auth:{kind}:{secret}"
    user_id = localcache.get(key)
    if user_id is localcache.MISSING:
        user_id = await in_thread(lookup, secret)
        if user_id is not None:
            localcache.put(key, user_id, AUTH_TTL_S)
    return user_id  # type: ignore[no-any-return]


def forget_session(session_key: str | None) -> None:
    if session_key:
        localcache.discard(f"auth:session:{session_key}")


def forget_token(key: str) -> None:
    localcache.discard(f"auth:token:{key}")


async def authenticate(request: HttpRequest) -> int | HttpResponse:
    """The user id, or the 401 to answer (token first, then the session, as DRF is configured)."""
    header = request.headers.get("Authorization", "").split()
    if header and header[0].lower() == "token":
        if len(header) != 2:
            return unauthorized("Invalid token header. Token string should not contain spaces.")
        user_id = await _remembered("token", header[1], _token_user)
        return user_id if user_id is not None else unauthorized("Invalid token.")
    session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if session_key:
        user_id = await _remembered("session", session_key, _session_user)
        if user_id is not None:
            return user_id
    return unauthorized("Authentication credentials were not provided.")


def _user_rate() -> tuple[int, int] | None:
    rate = api_settings.DEFAULT_THROTTLE_RATES.get("user")
    return SimpleRateThrottle.parse_rate(None, rate) if rate else None  # type: ignore[arg-type]


Markers = tuple[date | None, str | None]


async def throttle_and_markers(
    conn: redis.asyncio.Redis, user_id: int, queue: Callable[[Any], int] | None = None
) -> tuple[HttpResponse | None, Markers, list[Any]]:
    """Count the request in the user's window, read the layer markers and whatever ``queue``
    adds to the pipeline (it returns how many commands): one round trip.  The answer: the
    429 to send (or None), the markers, the replies of the queued commands."""
    names = speed.names()
    pipe = conn.pipeline(transaction=False)
    rate = _user_rate()
    if rate is not None:
        limit, window = rate
        now = time.time()
        key = f"{settings.REDIS_PREFIX}:web:throttle:user:{user_id}:{int(now // window)}"
        pipe.incr(key)
        pipe.expire(key, window + 1)
    pipe.mget(names.key("watermark"), names.key("batch", "latest"))
    count = queue(pipe) if queue is not None else 0
    replies = await pipe.execute()
    extra = replies[len(replies) - count :] if count else []
    markers = speed.parse_marker_values(*replies[len(replies) - count - 1])
    if rate is not None and replies[0] > limit:
        wait = max(1, int(window - now % window))
        body = {"detail": f"Request was throttled. Expected available in {wait} seconds."}
        return json_response(body, 429, {"Retry-After": str(wait)}), markers, extra
    return None, markers, extra


# -- answers -------------------------------------------------------------------------------

_flights: dict[tuple[Any, ...], asyncio.Future[Any]] = {}


async def answer(flight: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
    """``compute()`` on the loop if everything is in memory, else once in a thread for all waiters."""
    try:
        with localcache.no_io():
            return compute()
    except localcache.NeedsIO:
        pass
    key = (id(asyncio.get_running_loop()), *flight)
    running = _flights.get(key)
    if running is None:
        running = asyncio.ensure_future(in_thread(compute))
        _flights[key] = running
        running.add_done_callback(lambda _: _flights.pop(key, None))
    return await asyncio.shield(running)


#: The layer markers of the last answered request (to read the speed views ahead).
_last_markers: Markers | None = None


def _speed_days(query: AnalyticsQuery, watermark: date | None, today: date) -> list[date]:
    ctx = analytics.Context(today, watermark, None, None)  # type: ignore[arg-type]
    return ctx.speed_days(ctx.split(query))


def _speed_views(api: type[AnalyticsApi], query: AnalyticsQuery) -> tuple[str, ...]:
    """The speed views an endpoint's selector reads."""
    kind = getattr(api, "speed_kind", "totals")
    if kind in ("book", "customer"):
        return (f"{kind}:revenue", f"{kind}:units")
    if kind == "totals":
        flt = query.filter()
        return ("totals",) if flt is None else (flt[0],)
    return (kind,)


@dataclass(frozen=True)
class AnalyticsEndpoint:
    """An analytics read endpoint: its DRF class (options, schema) and the async view serving it."""

    api: type[AnalyticsApi]

    def __post_init__(self) -> None:
        WARM_APIS.append(self.api)

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        global _last_markers
        user = await authenticate(request)
        if isinstance(user, HttpResponse):
            return user
        api = self.api
        today = datetime.now(UTC).date()
        try:
            query: AnalyticsQuery | None = parse_query(
                request.GET,
                today=today,
                default_days=api.default_days,
                filters=api.filters,
                by_choices=api.by_choices,
            )
        except ParamError as exc:
            query, bad = None, exc
        # The speed days follow from the watermark, which comes in the same round trip: read
        # them for the last watermark seen, and again in the (rare) case it has just moved.
        ahead = None
        if query is not None:
            guess = [] if _last_markers is None else _speed_days(query, _last_markers[0], today)
            ahead = speed.ReadAhead(_speed_views(api, query), guess)
        conn, names = aredis(), speed.names()
        keys: list[str] = []

        def queue(pipe: Any) -> int:
            keys.extend(ahead.queue(pipe, names) if ahead is not None else ())
            return len(keys)

        denied, markers, replies = await throttle_and_markers(conn, user, queue)
        if denied is not None:
            return denied
        snapshot = speed.SpeedSnapshot(names, dict(zip(keys, replies, strict=True))) if keys else None
        if query is None:
            return json_response({"error": str(bad), "param": bad.param}, 400)
        watermark, run_id = _last_markers = markers
        if watermark is None:  # Redis lost its markers: the warehouse still knows (cached briefly)
            ctx = await in_thread(analytics.Context.load, today)
            watermark, run_id = ctx.watermark, ctx.run_id
        if run_id is not None and run_id not in _warming and settings.API_WARM_AFTER_PUBLISH:
            _warming[run_id] = asyncio.ensure_future(warm_after_publish(conn, today, watermark, run_id))
        days = _speed_days(query, watermark, today)
        if ahead is not None and days != ahead.days:
            ahead = speed.ReadAhead(ahead.views, days)
            snapshot = await ahead.read(conn, names)
        snapshot = snapshot or speed.SpeedSnapshot(names, {})
        ctx = analytics.Context(today, watermark, run_id, snapshot)
        selector: Selector = api.selector
        flight = (api.__name__, query.cache_token(), run_id, watermark, today)
        try:
            body = await answer(flight, lambda: selector(query, ctx))
        except ProgrammingError as exc:
            if getattr(exc.__cause__, "pgcode", None) != UNDEFINED_TABLE:
                raise
            return json_response({"error": f"warehouse not available: {str(exc).splitlines()[0]}"}, 503)
        return json_response(body)


# -- warming after a publish ---------------------------------------------------------------

#: Ranges the dashboards and most clients ask for (days back from today).
WARM_DAYS = (30, 365, 1826)
#: Endpoints to warm (every AnalyticsEndpoint registers its class).
WARM_APIS: list[type[AnalyticsApi]] = []
#: run id -> the warming task started for it in this process.
_warming: dict[str, asyncio.Future[Any]] = {}


async def warm_after_publish(
    conn: redis.asyncio.Redis, today: date, watermark: date | None, run_id: str
) -> None:
    """Compute the standard answers of a newly published run once, in a thread, in one worker.

    The expensive parts (per-period top lists of books and customers, long series) then sit
    in the shared cache before most users ask; the first top-books request after a publish
    no longer costs seconds.  A Redis ``SET NX`` elects the worker that does it.
    """
    lock = f"{settings.REDIS_PREFIX}:web:warm:{run_id}:{watermark}"
    if not await conn.set(lock, str(os.getpid()), nx=True, ex=3600):
        return
    started = time.monotonic()
    try:
        await in_thread(warm, today, watermark, run_id)
    except Exception:
        log.exception("warming the answers of batch run %s failed", run_id)
    else:
        log.info("warmed the answers of batch run %s in %.1f s", run_id, time.monotonic() - started)


def warm(today: date, watermark: date | None, run_id: str) -> None:
    ctx = analytics.Context(today, watermark, run_id, speed.SpeedViews())
    for api in WARM_APIS:
        for interval in api.warm_intervals:
            for by in api.by_choices:
                for days in WARM_DAYS:
                    params = {"days": str(days), "by": by, "interval": interval}
                    query = parse_query(
                        params, today=today, default_days=days, filters=api.filters, by_choices=api.by_choices
                    )
                    api.selector(query, ctx)


@dataclass(frozen=True)
class PipelineStatusEndpoint:
    """``pipeline-status/``: the consumer's counters live, the PostgreSQL/lake part and the list of
    speed days (a keyspace scan) reused for :data:`STATUS_TTL_S` seconds."""

    api: type

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        user = await authenticate(request)
        if isinstance(user, HttpResponse):
            return user
        conn, names = aredis(), speed.names()

        def queue(pipe: Any) -> int:
            pipe.hgetall(names.key("stats", "consumer"))
            pipe.get(names.key("stats", "late_events"))
            return 2

        denied, markers, (consumer, late) = await throttle_and_markers(conn, user, queue)
        if denied is not None:
            return denied
        key = f"pipeline-status:{names.redis_prefix}:{markers[1]}:{markers[0]}"

        def part() -> dict[str, Any]:
            return analytics._cached(key, lambda: warehouse_part(names), int(STATUS_TTL_S))

        # Days with speed views: a SCAN of the keyspace, so reused for seconds like the part above.
        days_key = f"speed-days:{names.redis_prefix}"
        days = localcache.get(days_key)
        if days is localcache.MISSING:
            found = set()
            async for day_key in conn.scan_iter(names.key("day", "*", "totals"), count=1000):
                found.add(day_key.split(":")[-2])
            days = sorted(date.fromisoformat(d) for d in found)
            localcache.put(days_key, days, STATUS_TTL_S)
        body = status_compose(
            await answer(("pipeline", key), part),
            markers,
            speed.parse_consumer_stats(consumer),
            speed._int(late),
            days,
        )
        return json_response(body)


def endpoint_view(endpoint: Callable[[HttpRequest], Awaitable[HttpResponse]], api: type) -> Any:
    """A Django view of ``endpoint``; ``cls``/``initkwargs`` let drf-spectacular document it as ``api``."""

    async def view(request: HttpRequest) -> HttpResponse:
        return await endpoint(request)

    view = require_safe(view)
    view.cls = api  # type: ignore[attr-defined]
    view.initkwargs = {}  # type: ignore[attr-defined]
    view.login_required = False  # type: ignore[attr-defined]  # answers 401 itself
    view.csrf_exempt = True  # type: ignore[attr-defined]  # GET/HEAD only
    view.endpoint = endpoint  # type: ignore[attr-defined]
    return view


# -- ASGI ----------------------------------------------------------------------------------


def _noop(request: HttpRequest) -> HttpResponse:  # get_response of the inline middleware
    raise AssertionError("not called")


class FastPathApp:
    """ASGI: the analytics read endpoints straight to their views, anything else to ``app``."""

    def __init__(self, app: Any, prefix: str = "/api/analytics/"):
        from api import urls

        self.app = app
        self.routes = {
            prefix + str(p.pattern): p.callback.endpoint
            for p in urls.urlpatterns
            if hasattr(p.callback, "endpoint")
        }
        self.security = SecurityMiddleware(_noop)
        self.frames = XFrameOptionsMiddleware(_noop)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        endpoint = self.routes.get(scope.get("path", "")) if scope["type"] == "http" else None
        if endpoint is None or scope["method"] not in ("GET", "HEAD") or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        while (await receive()).get("more_body"):  # a GET's body, if any, is ignored
            pass
        response = await self.respond(endpoint, ASGIRequest(scope, _EMPTY))
        response["Content-Length"] = str(len(response.content))
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.items()]
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        body = response.content if scope["method"] == "GET" else b""
        await send({"type": "http.response.body", "body": body})

    async def respond(self, endpoint: Any, request: HttpRequest) -> HttpResponse:
        try:
            request.get_host()
        except DisallowedHost:
            return HttpResponse("Bad Request (400)", status=400, content_type="text/plain")
        response = self.security.process_request(request)
        if response is None:
            try:
                response = await endpoint(request)
            except Exception:
                log.exception("internal error on %s", request.path)
                response = json_response({"error": "internal server error"}, 500)
        response = self.security.process_response(request, response)
        return self.frames.process_response(request, response)


class _EmptyBody:
    """The body file of a GET (ASGIRequest only reads it for forms)."""

    def read(self, *args: Any) -> bytes:
        return b""

    def readline(self, *args: Any) -> bytes:
        return b""

    def close(self) -> None:
        pass


_EMPTY = _EmptyBody()
