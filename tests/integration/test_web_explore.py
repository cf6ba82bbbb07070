"""The staff Explore page and ``/api/analytics/explore/`` on the real warehouse and reader role.

The guard and the role are tested in the package (test_adhoc_warehouse.py); here: who may use
the page and the endpoint, and that each outcome (rows, refusal, timeout, cap) reaches HTTP with
the status and message the page shows, and lands in the audit list.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django_support import Dataset

from salespulse.names import Names

URL = "/api/analytics/explore/"


def _post(client: Any, sql: str, **extra: Any) -> Any:
    return client.post(URL, {"sql": sql, **extra}, content_type="application/json")


def test_page_permission_matrix(analyst_client: Any, staff_client: Any) -> None:
    anonymous = Client().get("/explore/")
    assert anonymous.status_code == 302 and anonymous["Location"] == "/login/?next=/explore/"
    assert analyst_client.get("/explore/").status_code == 403
    page = staff_client.get("/explore/")
    assert page.status_code == 200
    assert b'id="sql"' in page.content and b"at most 1000 rows" in page.content
    # Only staff see the link.
    assert b'href="/explore/"' in page.content
    assert b'href="/explore/"' not in analyst_client.get("/").content


def test_api_permission_matrix(users: Any, analyst_client: Any, staff_client: Any) -> None:
    from rest_framework.authtoken.models import Token

    assert Client().get(URL).status_code == 401
    assert _post(Client(), "SELECT 1").status_code == 401
    assert analyst_client.get(URL).status_code == 403
    assert _post(analyst_client, "SELECT 1").status_code == 403
    assert staff_client.get(URL).status_code == 200
    token = Token.objects.get(user=users["boss"]).key
    answer = Client().post(
        URL, {"sql": "SELECT 1 AS one"}, content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}"
    )
    assert answer.status_code == 200 and answer.json()["rows"] == [[1]]


def test_select_returns_exact_warehouse_rows(staff_client: Any, dataset: Dataset) -> None:
    answer = _post(
        staff_client,
        "SELECT count(*) AS days, sum(revenue_cents) AS revenue_cents, sum(events) AS events "
        "FROM agg_daily_sales WHERE date < '" + dataset.watermark.isoformat() + "';",
    )
    assert answer.status_code == 200
    body = answer.json()
    batch = [e for e in dataset.events if e.event_date < dataset.watermark]
    assert body["kind"] == "ok"
    assert body["columns"] == ["days", "revenue_cents", "events"]
    assert body["rows"] == [
        [len({e.event_date for e in batch}), str(sum(e.revenue_cents for e in batch)), str(len(batch))]
    ]  # sum() of BIGINT is NUMERIC: sent as a string, never a rounded float
    assert body["truncated"] is False and body["row_cap"] == 1000
    assert isinstance(body["duration_ms"], int) and body["duration_ms"] >= 0


def test_write_is_refused_with_a_message(staff_client: Any, dataset: Dataset) -> None:
    names = Names.from_settings()

    def count() -> int:
        with connection.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {names.pg_schema}.agg_daily_sales")
            return int(cur.fetchone()[0])

    before = count()
    answer = _post(staff_client, "DELETE FROM agg_daily_sales")
    assert answer.status_code == 400
    assert answer.json() == {
        "kind": "refused",
        "code": "write",
        "message": "DELETE is a write: the Explore page only runs SELECT queries",
        "error": "DELETE is a write: the Explore page only runs SELECT queries",
    }
    several = _post(staff_client, "SELECT 1; DROP TABLE agg_daily_sales").json()
    assert several["code"] == "multiple_statements"
    assert count() == before


def test_timeout_is_a_400_with_code_timeout(staff_client: Any, dataset: Dataset) -> None:
    t0 = time.monotonic()
    answer = _post(staff_client, "SELECT pg_sleep(10)", timeout_s=0.5)
    assert time.monotonic() - t0 < 5
    assert answer.status_code == 400
    body = answer.json()
    assert (body["kind"], body["code"]) == ("failed", "timeout")
    assert body["message"] == "the query ran longer than the 0.5 s statement timeout and was cancelled"
    # A request cannot raise the server's limits.
    assert _post(staff_client, "SELECT 1", timeout_s=60).status_code == 400
    assert _post(staff_client, "SELECT 1", row_cap=1_000_000).status_code == 400


def test_large_results_are_capped(staff_client: Any, dataset: Dataset) -> None:
    big = _post(staff_client, "SELECT g FROM generate_series(1, 5000) AS g ORDER BY g").json()
    assert big["truncated"] is True and big["row_cap"] == 1000
    assert big["rows"] == [[i] for i in range(1, 1001)]
    small = _post(staff_client, "SELECT g FROM generate_series(1, 5000) AS g ORDER BY g", row_cap=3).json()
    assert (small["rows"], small["truncated"], small["row_cap"]) == ([[1], [2], [3]], True, 3)
    exact = _post(staff_client, "SELECT g FROM generate_series(1, 3) AS g ORDER BY g", row_cap=3).json()
    assert (exact["rows"], exact["truncated"]) == ([[1], [2], [3]], False)


def test_audit_list_shows_recent_queries(staff_client: Any, dataset: Dataset) -> None:
    marker = f"SELECT 'audit-{time.time_ns()}' AS marker"
    assert _post(staff_client, marker).status_code == 200
    assert _post(staff_client, "DROP TABLE agg_daily_sales").status_code == 400
    recent = staff_client.get(URL).json()["recent"]
    assert [(r["user"], r["sql"], r["status"], r["row_count"]) for r in recent[:2]] == [
        ("boss", "DROP TABLE agg_daily_sales", "refused", 0),
        ("boss", marker, "ok", 1),
    ]
    assert recent[0]["error"].startswith("DROP is DDL")
    assert recent[0]["started_at"].endswith("Z")


def test_runs_are_throttled_but_the_audit_list_is_not(
    users: Any, staff_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.core.cache import cache
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"explore": "2/min"})
    key = f"throttle_explore_{users['boss'].pk}"
    cache.delete(key)
    try:
        assert [_post(staff_client, "SELECT 1").status_code for _ in range(3)] == [200, 200, 429]
        assert staff_client.get(URL).status_code == 200
    finally:
        cache.delete(key)
