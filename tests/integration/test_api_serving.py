"""The ASGI fast path of the analytics reads (``config.asgi`` -> ``api.serving``), as daphne calls it.

The other API tests go through Django's test client (the full middleware chain); these send
the same requests to the deployed ASGI application, which serves the read endpoints without
that chain, and check it answers exactly the same, authenticates (token, session, nothing
anonymous), throttles, validates hosts and parameters, and forgets an ended session at once.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import orjson
import pytest
from django.test import override_settings
from django_support import Dataset

READS = [
    "summary/",
    "timeseries/?interval=week",
    "top-books/?by=units&limit=5",
    "sales-by-region/",
    "sales-by-genre/",
    "sales-by-channel/",
    "top-customers/?by=quantity",
    "monthly-revenue/?days=365",
    "pipeline-status/",
]
VOLATILE = ("as_of",)


def call(path: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, dict, bytes]:
    """One request through ``config.asgi.application``: status, headers, body."""
    from config.asgi import application

    raw_path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [
            (k.lower().encode(), v.encode()) for k, v in {"Host": "127.0.0.1", **(headers or {})}.items()
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict[str, Any]] = []

    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if requests:
            return requests.pop()
        await asyncio.Event().wait()  # no disconnect: the server stops listening once it answered
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(application(scope, receive, send))
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}, body


def _strip(value: Any) -> Any:
    """Drop the "as of now" timestamps, which differ between two calls."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


@pytest.fixture()
def token(users: dict[str, Any]) -> str:
    from rest_framework.authtoken.models import Token

    return Token.objects.get(user=users["analyst"]).key


@pytest.mark.parametrize("path", READS)
def test_fast_path_answers_as_the_django_views(
    analyst_client: Any, dataset: Dataset, token: str, path: str
) -> None:
    from api import localcache

    localcache.clear()  # the first call computes in a thread, the second from memory
    cold = call(f"/api/analytics/{path}", {"Authorization": f"Token {token}"})
    warm = call(f"/api/analytics/{path}", {"Authorization": f"Token {token}"})
    via_django = analyst_client.get(f"/api/analytics/{path}")
    assert cold[0] == warm[0] == via_django.status_code == 200
    assert cold[1]["content-type"] == "application/json"
    assert cold[1]["x-content-type-options"] == "nosniff" and cold[1]["x-frame-options"] == "DENY"
    assert int(cold[1]["content-length"]) == len(cold[2])
    expected = _strip(via_django.json())
    assert _strip(orjson.loads(cold[2])) == expected
    assert _strip(orjson.loads(warm[2])) == expected


def test_range_across_the_watermark_is_exact(dataset: Dataset, token: str, genre_of: dict[str, str]) -> None:
    from django_support import expected_summary

    start = dataset.watermark - timedelta(days=30)
    status, _, body = call(
        f"/api/analytics/summary/?start={start}&end={dataset.today}", {"Authorization": f"Token {token}"}
    )
    assert status == 200
    assert orjson.loads(body)["totals"] == expected_summary(dataset.events, start, dataset.today, genre_of)


def test_nothing_anonymous(dataset: Dataset) -> None:
    for path in READS:
        status, headers, body = call(f"/api/analytics/{path}")
        assert status == 401, path
        assert headers["www-authenticate"] == "Token"
        assert orjson.loads(body)["detail"] == "Authentication credentials were not provided."
    assert call("/api/analytics/summary/", {"Authorization": "Token not-a-token"})[0] == 401
    assert call("/api/analytics/summary/", {"Authorization": "Token a b"})[0] == 401


def test_session_cookie_and_logout(users: dict[str, Any], dataset: Dataset) -> None:
    from django.test import Client

    client = Client()
    client.force_login(users["analyst"])
    cookie = {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}
    assert call("/api/analytics/sales-by-region/", cookie)[0] == 200
    client.post("/logout/")
    assert call("/api/analytics/sales-by-region/", cookie)[0] == 401


def test_deleted_token_is_refused_at_once(users: dict[str, Any], dataset: Dataset) -> None:
    from rest_framework.authtoken.models import Token

    token = Token.objects.get(user=users["analyst"])
    assert call("/api/analytics/summary/", {"Authorization": f"Token {token.key}"})[0] == 200
    token.delete()
    try:
        assert call("/api/analytics/summary/", {"Authorization": f"Token {token.key}"})[0] == 401
    finally:
        Token.objects.get_or_create(user=users["analyst"])


def test_bad_parameter_and_host_and_method(dataset: Dataset, token: str) -> None:
    auth = {"Authorization": f"Token {token}"}
    status, _, body = call("/api/analytics/timeseries/?interval=year", auth)
    assert status == 400 and orjson.loads(body)["param"] == "interval"
    assert call("/api/analytics/summary/", {**auth, "Host": "evil.example"})[0] == 400
    # Not a read: Django's full stack answers (405 from the view, after the CSRF check passes).
    assert call("/api/analytics/summary/", auth, method="DELETE")[0] in (403, 405)


def test_throttled_per_user_across_the_window(users: dict[str, Any], dataset: Dataset, token: str) -> None:
    from django.conf import settings

    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "3/min"}
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
        from api import speed

        if 60 - time.time() % 60 < 3:  # not across a window boundary (a fixed 1-minute window)
            time.sleep(60 - time.time() % 60 + 0.1)
        r = speed.client()
        for key in r.scan_iter(f"{settings.REDIS_PREFIX}:web:throttle:user:{users['analyst'].pk}:*"):
            r.delete(key)
        codes = [call("/api/analytics/summary/", {"Authorization": f"Token {token}"})[0] for _ in range(4)]
        assert codes[:3] == [200, 200, 200] and codes[3] == 429
        status, headers, _ = call("/api/analytics/summary/", {"Authorization": f"Token {token}"})
        assert status == 429 and int(headers["retry-after"]) >= 1
        for key in r.scan_iter(f"{settings.REDIS_PREFIX}:web:throttle:user:{users['analyst'].pk}:*"):
            r.delete(key)


def test_warming_after_a_publish_covers_the_standard_answers(dataset: Dataset) -> None:
    """After :func:`api.serving.warm`, every standard answer is computed from memory alone."""
    from api import analytics, localcache, serving, speed
    from api.params import parse_query

    localcache.clear()
    serving.warm(dataset.today, dataset.watermark, dataset.run_id)
    assert {api.__name__ for api in serving.WARM_APIS} >= {"TopBooksListApi", "TopCustomersListApi"}
    ctx = analytics.Context(dataset.today, dataset.watermark, dataset.run_id, speed.SpeedViews())
    for api in serving.WARM_APIS:
        for by in api.by_choices:
            for days in serving.WARM_DAYS:
                query = parse_query(
                    {"days": str(days), "by": by},
                    today=dataset.today,
                    default_days=days,
                    filters=api.filters,
                    by_choices=api.by_choices,
                )
                with localcache.no_io():  # raises NeedsIO on anything not computed ahead
                    api.selector(query, ctx)
