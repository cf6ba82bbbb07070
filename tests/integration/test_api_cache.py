"""Batch parts are cached under the latest published run: a publish invalidates them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import connection
from django_support import Dataset, expected_summary

from salespulse.names import Names


def test_publish_invalidates_cached_batch_part(
    analyst_client: Any, dataset: Dataset, genre_of: dict[str, str]
) -> None:
    from api import speed

    names = Names.from_settings()
    start = dataset.watermark - timedelta(days=20)
    params = {"start": start.isoformat(), "end": dataset.today.isoformat()}
    expected = expected_summary(dataset.events, start, dataset.today, genre_of)["revenue_cents"]
    day = dataset.watermark - timedelta(days=3)
    assert analyst_client.get("/api/analytics/summary/", params).json()["totals"]["revenue_cents"] == expected

    # The warehouse changes under the same run id: the cached batch part still answers.
    with connection.cursor() as cur:
        cur.execute(
            f"UPDATE {names.pg_schema}.agg_daily_sales SET revenue_cents = revenue_cents + 100 "
            "WHERE date = %s",
            [day],
        )
    try:
        assert (
            analyst_client.get("/api/analytics/summary/", params).json()["totals"]["revenue_cents"]
            == expected
        )

        # A publish (new run id in P:batch:latest) makes the new warehouse visible at once.
        speed.client().set(names.key("batch", "latest"), dataset.run_id + "-republished")
        body = analyst_client.get("/api/analytics/summary/", params).json()
        assert body["totals"]["revenue_cents"] == expected + 100
        assert body["sources"]["batch"]["run_id"] == dataset.run_id + "-republished"

        # Live sales are never cached: a new speed-layer sale shows up immediately.
        r = speed.client()
        r.hincrby(names.day_key("totals", dataset.today.isoformat()), "revenue_cents", 7)
        assert (
            analyst_client.get("/api/analytics/summary/", params).json()["totals"]["revenue_cents"]
            == expected + 107
        )
        r.hincrby(names.day_key("totals", dataset.today.isoformat()), "revenue_cents", -7)
    finally:
        with connection.cursor() as cur:
            cur.execute(
                f"UPDATE {names.pg_schema}.agg_daily_sales SET revenue_cents = revenue_cents - 100 "
                "WHERE date = %s",
                [day],
            )
        speed.client().set(names.key("batch", "latest"), dataset.run_id)
