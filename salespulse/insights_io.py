"""Reads behind the quick insights: daily revenue and per-member totals, batch + speed, and live stats.

The serving rule of docs/CONTRACTS.md applies: days before the batch watermark ``W`` come from
the warehouse (``agg_daily_*``), days from ``W`` on from the Redis speed views; no day is read
from both.  Everything here is I/O; the arithmetic lives in :mod:`salespulse.insights`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg2
import redis

from salespulse import insights
from salespulse.insights import DailySeries, Insight
from salespulse.names import Names
from salespulse.services import urls
from salespulse.settings import Settings, get_settings

log = logging.getLogger(__name__)

META_SCHEMA = "warehouse_meta"
#: dimension -> (warehouse table, key column, Redis view, Redis kind)
DIMENSIONS: dict[str, tuple[str, str, str, str]] = {
    "book": ("agg_daily_book", "book_id", "book:revenue", "zset"),
    "genre": ("agg_daily_genre", "genre", "genre", "hash"),
    "region": ("agg_daily_region", "region_code", "region", "hash"),
}


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


class InsightSource:
    """The warehouse and the speed views of one deployment (settings decide which)."""

    def __init__(self, settings: Settings | None = None, *, redis_client: redis.Redis | None = None):
        self.settings = settings or get_settings()
        self.names = Names.from_settings(self.settings)
        service_urls = urls(self.settings)
        self.database_url = service_urls.database
        self.redis = redis_client or redis.Redis.from_url(service_urls.redis, decode_responses=True)

    # -- connections -------------------------------------------------------------------------
    def _query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        conn = psycopg2.connect(self.database_url, connect_timeout=10, application_name="salespulse-insights")
        try:
            with conn, conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())
        finally:
            conn.close()

    def _table_exists(self, table: str, schema: str | None = None) -> bool:
        rows = self._query(
            "SELECT to_regclass(%s) IS NOT NULL", (f"{schema or self.settings.pg_schema}.{table}",)
        )
        return bool(rows and rows[0][0])

    # -- the watermark -----------------------------------------------------------------------
    def watermark(self) -> date | None:
        """``P:watermark`` (copied at publish), else the latest published batch run, else None."""
        value = self.redis.get(self.names.key("watermark"))
        if value:
            return date.fromisoformat(str(value))
        if not self._table_exists("batch_runs", META_SCHEMA):
            return None
        rows = self._query(
            f"SELECT max(watermark) FROM {META_SCHEMA}.batch_runs WHERE status = 'published'", ()
        )
        return rows[0][0] if rows and rows[0][0] else None

    def _split(self, start: date, end: date, watermark: date | None) -> tuple[list[date], list[date]]:
        days = _days(start, end)
        if watermark is None:
            return [], days
        return [d for d in days if d < watermark], [d for d in days if d >= watermark]

    # -- daily revenue -----------------------------------------------------------------------
    def daily_revenue(self, start: date, end: date, watermark: date | None = None) -> DailySeries:
        """Revenue of every day in ``[start, end]`` (0 where nothing was sold)."""
        wm = self.watermark() if watermark is None else watermark
        batch_days, speed_days = self._split(start, end, wm)
        values: dict[date, int] = {}
        if batch_days and self._table_exists("agg_daily_sales"):
            rows = self._query(
                f"SELECT date, revenue_cents FROM {self.settings.pg_schema}.agg_daily_sales "
                "WHERE date BETWEEN %s AND %s",
                (batch_days[0], batch_days[-1]),
            )
            values.update({d: int(v) for d, v in rows})
        if speed_days:
            pipe = self.redis.pipeline(transaction=False)
            for day in speed_days:
                pipe.hget(self.names.day_key("totals", day.isoformat()), "revenue_cents")
            for day, raw in zip(speed_days, pipe.execute(), strict=True):
                if raw is not None:
                    values[day] = int(raw)
        return DailySeries.from_mapping(values, start, end)

    # -- per-member totals -------------------------------------------------------------------
    def member_totals(
        self, dimension: str, start: date, end: date, watermark: date | None = None
    ) -> dict[str, int]:
        """Revenue per book/genre/region over ``[start, end]``, batch part + speed part."""
        table, column, view, kind = DIMENSIONS[dimension]
        wm = self.watermark() if watermark is None else watermark
        batch_days, speed_days = self._split(start, end, wm)
        totals: dict[str, int] = {}
        if batch_days and self._table_exists(table):
            rows = self._query(
                f"SELECT {column}, sum(revenue_cents) FROM {self.settings.pg_schema}.{table} "
                f"WHERE date BETWEEN %s AND %s GROUP BY {column}",
                (batch_days[0], batch_days[-1]),
            )
            for key, value in rows:
                totals[str(key)] = totals.get(str(key), 0) + int(value)
        if speed_days:
            pipe = self.redis.pipeline(transaction=False)
            for day in speed_days:
                key = self.names.day_key(view, day.isoformat())
                if kind == "zset":
                    pipe.zrange(key, 0, -1, withscores=True)
                else:
                    pipe.hgetall(key)
            for raw in pipe.execute():
                for member, value in _members(raw, kind):
                    totals[member] = totals.get(member, 0) + value
        return totals

    # -- live stats --------------------------------------------------------------------------
    def live_stats(self, now: datetime, minutes: int = 5) -> insights.LiveStats:
        """Mean revenue per minute over the last ``minutes`` complete minutes, and DLQ counters.

        Minutes without a key had no sales (0); a deployment whose consumer never ran
        (no ``P:stats:consumer``) has unknown revenue, so no alert can fire on it.
        """
        consumer = self.redis.hgetall(self.names.key("stats", "consumer"))
        current = now.astimezone(UTC).replace(second=0, microsecond=0)
        keys = [
            self.names.key("minute", (current - timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M"))
            for i in range(1, minutes + 1)
        ]
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.hget(key, "revenue_cents")
        revenue = [int(v) if v is not None else 0 for v in pipe.execute()]
        known = bool(consumer)
        return insights.LiveStats(
            revenue_per_min_cents=(sum(revenue) // minutes) if known and minutes else None,
            minutes=minutes if known else 0,
            events_total=int(float(consumer.get("events_total", 0) or 0)),
            dlq_total=int(float(consumer.get("dlq_total", 0) or 0)),
        )


def _members(raw: Any, kind: str) -> Iterable[tuple[str, int]]:
    if kind == "zset":
        return ((str(m), round(float(s))) for m, s in raw or [])
    out = []
    for field, value in (raw or {}).items():
        member, _, measure = str(field).rpartition(":")
        if measure == "revenue_cents" and member:
            out.append((member, int(float(value))))
    return out


def book_titles(settings: Settings) -> dict[str, str]:
    from salespulse.reference import get_catalogue

    catalogue = get_catalogue(settings)
    return dict(zip(catalogue.book_id.tolist(), catalogue.title.tolist(), strict=True))


def build_insights(
    settings: Settings | None = None,
    *,
    days: int = 90,
    today: date | None = None,
    horizon: int = 14,
    movers: int = 3,
    source: InsightSource | None = None,
) -> list[Insight]:
    """Every daily insight for the ``days`` complete days before ``today`` (UTC), newest data last.

    Today is left out: a day still in progress would always look like a collapse.
    """
    src = source or InsightSource(settings)
    end = (today or datetime.now(UTC).date()) - timedelta(days=1)
    start = end - timedelta(days=days - 1)
    wm = src.watermark()
    series = src.daily_revenue(start, end, wm)
    out = insights.series_insights(series, horizon=horizon)
    cur_start, prev_start = end - timedelta(days=6), end - timedelta(days=13)
    period = f"7 days to {end.isoformat()} vs the 7 before"
    for dimension in DIMENSIONS:
        current = src.member_totals(dimension, cur_start, end, wm)
        previous = src.member_totals(dimension, prev_start, cur_start - timedelta(days=1), wm)
        if not current and not previous:
            continue
        labels = book_titles(src.settings) if dimension == "book" else None
        top = insights.top_movers(current, previous, dimension=dimension, n=movers, labels=labels)
        out.append(insights.movers_insight(top, period))
    return out


def live_alerts(
    settings: Settings | None = None,
    *,
    now: datetime | None = None,
    thresholds: insights.AlertThresholds | None = None,
    source: InsightSource | None = None,
) -> list[Insight]:
    """The live-stream alerts firing now (what the live page shows)."""
    src = source or InsightSource(settings)
    stats = src.live_stats(now or datetime.now(UTC))
    return insights.evaluate_alerts(stats, thresholds or insights.alert_thresholds())
