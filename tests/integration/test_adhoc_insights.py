"""Insights read the batch part from PostgreSQL and the speed part from Redis, split at the watermark."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg2
import pytest
import redis

from salespulse import insights
from salespulse.insights_io import InsightSource, build_insights, live_alerts
from salespulse.names import Names
from salespulse.settings import Settings, with_overrides

WATERMARK = date(2026, 3, 20)
TODAY = date(2026, 3, 23)


@pytest.fixture(scope="module")
def settings(stack) -> Settings:  # type: ignore[no-untyped-def]
    """A private schema and key prefix, filled with a known batch part and speed part."""
    s = with_overrides(
        stack.settings, pg_schema=f"adhoc_ins_{stack.run_id}", redis_prefix=f"t{stack.run_id}ins"
    )
    conn = psycopg2.connect(stack.database_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {s.pg_schema}")
        cur.execute(f"CREATE TABLE {s.pg_schema}.agg_daily_sales (date DATE, revenue_cents BIGINT)")
        cur.execute(
            f"CREATE TABLE {s.pg_schema}.agg_daily_genre (date DATE, genre VARCHAR(64), revenue_cents BIGINT)"
        )
        for i in range(40):  # 2026-02-08 .. 2026-03-19, plus a row past the watermark that must be ignored
            day = WATERMARK - timedelta(days=40 - i)
            cur.execute(f"INSERT INTO {s.pg_schema}.agg_daily_sales VALUES (%s, %s)", (day, 10_000 + i))
        cur.execute(f"INSERT INTO {s.pg_schema}.agg_daily_sales VALUES (%s, %s)", (WATERMARK, 999_999))
        cur.execute(
            f"INSERT INTO {s.pg_schema}.agg_daily_genre VALUES (%s, 'Fiction', 500), (%s, 'Poetry', 70)",
            (date(2026, 3, 19), date(2026, 3, 12)),
        )
    conn.close()
    names = Names.from_settings(s)
    r = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    r.set(names.key("watermark"), WATERMARK.isoformat())
    for offset, value in enumerate((20_000, 21_000, 22_000)):  # 03-20, 03-21, 03-22
        day = (WATERMARK + timedelta(days=offset)).isoformat()
        r.hset(names.day_key("totals", day), mapping={"revenue_cents": value, "orders": 1})
    r.hset(names.day_key("genre", "2026-03-21"), mapping={"Fiction:revenue_cents": 300, "Fiction:orders": 2})
    r.hset(names.day_key("region", "2026-03-21"), mapping={"uk:revenue_cents": 40})
    r.zadd(names.day_key("book:revenue", "2026-03-22"), {"BK0000001": 1234})
    now = datetime(2026, 3, 23, 12, 30, 20, tzinfo=UTC)
    for minutes_ago, cents in ((1, 600), (2, 400), (4, 1500)):
        minute = (now.replace(second=0) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M")
        r.hset(names.key("minute", minute), mapping={"revenue_cents": cents})
    r.hset(names.key("minute", "2026-03-23T12:30"), mapping={"revenue_cents": 99_999})  # in progress
    r.hset(names.key("stats", "consumer"), mapping={"events_total": 950, "dlq_total": 50})
    r.close()
    return s


def test_daily_revenue_splits_at_the_watermark(settings: Settings) -> None:
    source = InsightSource(settings)
    assert source.watermark() == WATERMARK
    series = source.daily_revenue(date(2026, 3, 17), date(2026, 3, 23))
    # 03-17..03-19 from PostgreSQL (i = 37..39), 03-20..03-22 from Redis, 03-23 empty (0).
    assert series.cents.tolist() == [10_037, 10_038, 10_039, 20_000, 21_000, 22_000, 0]


def test_member_totals_add_batch_and_speed(settings: Settings) -> None:
    source = InsightSource(settings)
    assert source.member_totals("genre", date(2026, 3, 16), date(2026, 3, 22)) == {"Fiction": 800}
    assert source.member_totals("genre", date(2026, 3, 9), date(2026, 3, 15)) == {"Poetry": 70}
    assert source.member_totals("region", date(2026, 3, 16), date(2026, 3, 22)) == {"uk": 40}
    # No agg_daily_book table in this schema: the batch part is empty, the speed part counts.
    assert source.member_totals("book", date(2026, 3, 16), date(2026, 3, 22)) == {"BK0000001": 1234}


def test_build_insights_end_to_end(settings: Settings) -> None:
    found = build_insights(settings, days=56, today=TODAY)
    kinds = [i.kind for i in found]
    assert kinds[:2] == ["week_over_week", "month_over_month"]
    mom = found[1].numbers
    # 03-22 back 28 days: 02-23..03-19 from PostgreSQL (i = 15..39) + 63,000 from Redis.
    assert mom["current_cents"] == sum(10_000 + i for i in range(15, 40)) + 63_000
    assert "forecast" in kinds and "movers_genre" in kinds and "movers_book" in kinds
    wow = found[0].numbers
    # Days 03-16..03-22: 4 batch days (i = 36..39) + the 3 speed days.
    assert wow["current_cents"] == sum(10_000 + i for i in range(36, 40)) + 63_000
    assert wow["previous_cents"] == sum(10_000 + i for i in range(29, 36))
    genre = next(i for i in found if i.kind == "movers_genre")
    assert (
        genre.numbers["risers"][0]["key"] == "Fiction" and genre.numbers["risers"][0]["change_cents"] == 800
    )
    assert genre.numbers["fallers"][0]["key"] == "Poetry"


def test_live_alerts_from_redis(settings: Settings) -> None:
    now = datetime(2026, 3, 23, 12, 30, 20, tzinfo=UTC)
    stats = InsightSource(settings).live_stats(now, minutes=5)
    assert stats == insights.LiveStats(revenue_per_min_cents=500, minutes=5, events_total=950, dlq_total=50)
    alerts = live_alerts(settings, now=now, thresholds=insights.AlertThresholds(1_000, 0.02))
    assert [a.kind for a in alerts] == ["alert_low_revenue", "alert_dlq_rate"]
    assert live_alerts(settings, now=now, thresholds=insights.AlertThresholds(100, 0.2)) == []
