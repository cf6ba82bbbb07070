"""``/api/analytics/insights/`` and ``/alerts/``: the package's answers, unchanged, behind login.

The insights endpoint must say exactly what :func:`salespulse.insights_io.build_insights` says
for the same warehouse and speed views (the arithmetic is tested in the package); what is
checked here is the wiring, the JSON form, authentication and the cache key.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.test import Client
from django_support import Dataset

from salespulse.insights_io import build_insights, live_alerts
from salespulse.names import Names


def _expected_insights(today: Any) -> list[dict[str, Any]]:
    found = build_insights(days=90, today=today, horizon=14, movers=3)
    return json.loads(json.dumps([i.as_json() for i in found]))


def test_insights_need_login(dataset: Dataset) -> None:
    assert Client().get("/api/analytics/insights/").status_code == 401
    assert Client().get("/api/analytics/alerts/").status_code == 401


def test_insights_equal_build_insights(analyst_client: Any, dataset: Dataset) -> None:
    body = analyst_client.get("/api/analytics/insights/").json()
    today = datetime.now(UTC).date()
    expected = _expected_insights(today)
    assert body["insights"] == expected
    assert body["watermark"] == dataset.watermark.isoformat()
    assert body["run_id"] == dataset.run_id
    assert body["range"]["end"] == (today.fromordinal(today.toordinal() - 1)).isoformat()
    kinds = [i["kind"] for i in body["insights"]]
    # 80 history days + 3 speed days hold 12 weeks: both changes, a forecast and movers.
    assert {"week_over_week", "month_over_month", "forecast"} <= set(kinds)
    assert all(i["severity"] in ("info", "notice", "warning") and i["text"] for i in body["insights"])


def test_insights_cache_follows_speed_days_and_publish(
    analyst_client: Any, dataset: Dataset, catalogue: Any
) -> None:
    """A new sale on a speed day (yesterday) changes the answer at once; the same data hits the cache."""
    from api import speed

    names = Names.from_settings()
    r = speed.client()
    yesterday = dataset.today.fromordinal(dataset.today.toordinal() - 1).isoformat()
    key = names.day_key("totals", yesterday)
    first = analyst_client.get("/api/analytics/insights/").json()["insights"]
    r.hincrby(key, "revenue_cents", 500_000)
    r.hincrby(key, "events", 1)
    try:
        changed = analyst_client.get("/api/analytics/insights/").json()["insights"]
        assert changed != first
        assert changed == _expected_insights(dataset.today)
    finally:
        r.hincrby(key, "revenue_cents", -500_000)
        r.hincrby(key, "events", -1)
    assert analyst_client.get("/api/analytics/insights/").json()["insights"] == first


def test_alerts_equal_live_alerts(analyst_client: Any, dataset: Dataset) -> None:
    """Consumer stats with 10% dead letters: the DLQ-rate rule fires, as the package says."""
    from api import speed

    names = Names.from_settings()
    r = speed.client()
    stats_key = names.key("stats", "consumer")
    saved = r.hgetall(stats_key)
    assert analyst_client.get("/api/analytics/alerts/").json()["alerts"] == [
        a.as_json() for a in live_alerts()
    ]
    r.hset(stats_key, mapping={"events_total": 900, "dlq_total": 100})
    try:
        body = analyst_client.get("/api/analytics/alerts/").json()
        kinds = sorted(a["kind"] for a in body["alerts"])
        # Whether revenue of the last minutes is low depends on the dataset's random times today.
        assert kinds == sorted(a.kind for a in live_alerts())
        assert "alert_dlq_rate" in kinds
        dlq = next(a for a in body["alerts"] if a["kind"].startswith("alert_dlq"))
        assert dlq["numbers"]["dlq_rate"] == 0.1
        assert dlq["severity"] == "warning"
    finally:
        r.delete(stats_key)
        if saved:
            r.hset(stats_key, mapping=saved)


def test_dashboard_has_insights_panel_and_live_page_alerts(analyst_client: Any) -> None:
    home = analyst_client.get("/").content.decode()
    assert 'id="insights"' in home and "Quick insights" in home
    assert 'id="alerts"' in analyst_client.get("/live/").content.decode()


def test_insights_cached_per_batch_run(analyst_client: Any, dataset: Dataset) -> None:
    """A warehouse change under the same run id is not seen; a publish (new run id) shows it."""
    from datetime import timedelta

    from api import speed
    from django.db import connection

    names = Names.from_settings()
    day = dataset.watermark - timedelta(days=2)
    before = analyst_client.get("/api/analytics/insights/").json()["insights"]
    with connection.cursor() as cur:
        cur.execute(
            f"UPDATE {names.pg_schema}.agg_daily_sales SET revenue_cents = revenue_cents + 900000 "
            "WHERE date = %s",
            [day],
        )
    try:
        assert analyst_client.get("/api/analytics/insights/").json()["insights"] == before
        speed.client().set(names.key("batch", "latest"), dataset.run_id + "-republished")
        after = analyst_client.get("/api/analytics/insights/").json()["insights"]
        assert after != before
        assert after == _expected_insights(dataset.today)
    finally:
        with connection.cursor() as cur:
            cur.execute(
                f"UPDATE {names.pg_schema}.agg_daily_sales SET revenue_cents = revenue_cents - 900000 "
                "WHERE date = %s",
                [day],
            )
        speed.client().set(names.key("batch", "latest"), dataset.run_id)
