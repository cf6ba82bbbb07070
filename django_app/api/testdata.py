"""Fill both layers from a list of events, the way their real writers would.

For tests, the browser test and small benchmarks: the warehouse tables of
docs/CONTRACTS.md are created and loaded with the events before the
watermark (facts, then every aggregate by SQL over the facts, then a
published ``batch_runs`` row), and the speed views get the events from the
watermark on (the same keys and shapes the stream consumer writes).  The real
writers are the Spark batch job and the stream consumer; this module only
lets the serving layer be tested on its own, with known events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import redis
from django.db import connection

from salespulse.csv_ingest.store import DDL as CSV_META_DDL
from salespulse.events import SaleEvent, format_event_time
from salespulse.names import Names
from salespulse.reference import CHANNELS, REGIONS, UNKNOWN, Catalogue
from salespulse.warehouse.ddl import META_DDL as BATCH_META_DDL

META = "warehouse_meta"
ID = "VARCHAR(256)"

# Column lists as in docs/CONTRACTS.md (the batch job's DDL is the authority).
DDL: dict[str, str] = {
    "dim_date": "date_key INTEGER NOT NULL, date DATE NOT NULL, year SMALLINT, quarter SMALLINT, "
    "month SMALLINT, day SMALLINT, iso_week SMALLINT, day_of_week SMALLINT, is_weekend BOOLEAN",
    "dim_book": f"book_key BIGINT NOT NULL, book_id {ID} NOT NULL, isbn VARCHAR(32), title VARCHAR(512), "
    "author VARCHAR(256), genre VARCHAR(64), publisher VARCHAR(128), publication_year INTEGER, "
    "list_price_cents BIGINT",
    "dim_customer": f"customer_key BIGINT NOT NULL, customer_id {ID} NOT NULL, customer_name VARCHAR(256), "
    "region VARCHAR(64), segment VARCHAR(32), signup_date DATE",
    "dim_region": "region_key BIGINT NOT NULL, region_code VARCHAR(64), region_name VARCHAR(128), "
    "country VARCHAR(16)",
    "dim_channel": "channel_key BIGINT NOT NULL, channel_code VARCHAR(64), channel_name VARCHAR(128)",
    "fct_sales": f"event_id VARCHAR(64) NOT NULL, date_key INTEGER NOT NULL, event_time TIMESTAMP NOT NULL, "
    f"order_id {ID} NOT NULL, line_no INTEGER NOT NULL, book_key BIGINT NOT NULL, "
    "customer_key BIGINT NOT NULL, region_key BIGINT NOT NULL, channel_key BIGINT NOT NULL, "
    "event_type VARCHAR(8) NOT NULL, quantity INTEGER NOT NULL, units INTEGER NOT NULL, "
    "unit_price_cents BIGINT NOT NULL, discount_bp INTEGER NOT NULL, revenue_cents BIGINT NOT NULL, "
    "is_order BOOLEAN NOT NULL, currency VARCHAR(16), payment_method VARCHAR(32), source VARCHAR(16)",
    "agg_daily_sales": "date DATE NOT NULL, revenue_cents BIGINT, orders BIGINT, units BIGINT, "
    "events BIGINT, refunds BIGINT",
    "agg_monthly_sales": "month DATE NOT NULL, revenue_cents BIGINT, orders BIGINT, units BIGINT, "
    "events BIGINT, refunds BIGINT",
    "agg_daily_region": "date DATE NOT NULL, region_code VARCHAR(64) NOT NULL, revenue_cents BIGINT, "
    "orders BIGINT, units BIGINT, events BIGINT",
    "agg_daily_genre": "date DATE NOT NULL, genre VARCHAR(64) NOT NULL, revenue_cents BIGINT, "
    "orders BIGINT, units BIGINT, events BIGINT",
    "agg_daily_channel": "date DATE NOT NULL, channel_code VARCHAR(64) NOT NULL, revenue_cents BIGINT, "
    "orders BIGINT, units BIGINT, events BIGINT",
    "agg_daily_book": f"date DATE NOT NULL, book_id {ID} NOT NULL, revenue_cents BIGINT, units BIGINT, "
    "events BIGINT",
    "agg_monthly_book": f"month DATE NOT NULL, book_id {ID} NOT NULL, revenue_cents BIGINT, units BIGINT, "
    "events BIGINT",
    "agg_daily_customer": f"date DATE NOT NULL, customer_id {ID} NOT NULL, revenue_cents BIGINT, "
    "units BIGINT, orders BIGINT",
    "agg_monthly_customer": f"month DATE NOT NULL, customer_id {ID} NOT NULL, revenue_cents BIGINT, "
    "units BIGINT, orders BIGINT",
}
#: The real metadata tables (batch runs, CSV reports), from the modules that own them.
META_DDL = (*BATCH_META_DDL, *CSV_META_DDL)

# Aggregates by SQL over the facts (the batch job's definitions, restated).
_F = "{s}.fct_sales f JOIN {s}.dim_date d ON d.date_key = f.date_key"
_M = "SUM(f.revenue_cents), SUM(CASE WHEN f.is_order THEN 1 ELSE 0 END), SUM(f.units), COUNT(*)"
AGG_SQL: dict[str, str] = {
    "agg_daily_sales": f"SELECT d.date, {_M}, SUM(CASE WHEN f.event_type = 'refund' THEN 1 ELSE 0 END) "
    f"FROM {_F} GROUP BY d.date",
    "agg_monthly_sales": "SELECT CAST(date_trunc('month', date) AS DATE), SUM(revenue_cents), SUM(orders), "
    "SUM(units), SUM(events), SUM(refunds) FROM {s}.agg_daily_sales GROUP BY 1",
    "agg_daily_region": f"SELECT d.date, r.region_code, {_M} FROM {_F} "
    "JOIN {s}.dim_region r ON r.region_key = f.region_key GROUP BY 1, 2",
    "agg_daily_genre": f"SELECT d.date, b.genre, {_M} FROM {_F} "
    "JOIN {s}.dim_book b ON b.book_key = f.book_key GROUP BY 1, 2",
    "agg_daily_channel": f"SELECT d.date, c.channel_code, {_M} FROM {_F} "
    "JOIN {s}.dim_channel c ON c.channel_key = f.channel_key GROUP BY 1, 2",
    "agg_daily_book": f"SELECT d.date, b.book_id, SUM(f.revenue_cents), SUM(f.units), COUNT(*) FROM {_F} "
    "JOIN {s}.dim_book b ON b.book_key = f.book_key GROUP BY 1, 2",
    "agg_monthly_book": "SELECT CAST(date_trunc('month', date) AS DATE), book_id, SUM(revenue_cents), "
    "SUM(units), SUM(events) FROM {s}.agg_daily_book GROUP BY 1, 2",
    "agg_daily_customer": f"SELECT d.date, c.customer_id, SUM(f.revenue_cents), SUM(f.units), "
    f"SUM(CASE WHEN f.is_order THEN 1 ELSE 0 END) FROM {_F} "
    "JOIN {s}.dim_customer c ON c.customer_key = f.customer_key GROUP BY 1, 2",
    "agg_monthly_customer": "SELECT CAST(date_trunc('month', date) AS DATE), customer_id, "
    "SUM(revenue_cents), SUM(units), SUM(orders) FROM {s}.agg_daily_customer GROUP BY 1, 2",
}


def event_date(event: SaleEvent) -> date:
    return event.event_date


def _keys(values: Iterable[str]) -> dict[str, int]:
    """Surrogate keys 1..n in sorted order, 0 reserved for ``unknown``."""
    return {v: i for i, v in enumerate(sorted(set(values)), start=1)}


def warehouse_load(
    events: Sequence[SaleEvent],
    watermark: date,
    catalogue: Catalogue,
    *,
    run_id: str = "run-test-1",
    names: Names | None = None,
) -> int:
    """(Re)create the published warehouse with the events dated before ``watermark``.

    Returns the number of fact rows.  Drops and recreates the tables, so a
    test can load different event sets in turn.
    """
    n = names or Names.from_settings()
    s = n.pg_schema
    batch = [e for e in events if e.event_date < watermark]
    book_index = {b: i for i, b in enumerate(catalogue.book_id.tolist())}
    cust_index = {c: i for i, c in enumerate(catalogue.customer_id.tolist())}
    book_keys = _keys(catalogue.book_id.tolist())
    cust_keys = _keys(catalogue.customer_id.tolist())
    region_keys = _keys(r.code for r in REGIONS)
    channel_keys = _keys(c.code for c in CHANNELS)
    with connection.cursor() as cur:
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {META}")
        for ddl in META_DDL:
            cur.execute(ddl)
        for table, cols in DDL.items():
            cur.execute(f"DROP TABLE IF EXISTS {s}.{table}")
            cur.execute(f"CREATE TABLE {s}.{table} ({cols})")
        cur.executemany(
            f"INSERT INTO {s}.dim_book VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(0, UNKNOWN, None, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, None, None)]
            + [
                (
                    key,
                    b,
                    catalogue.isbn[book_index[b]],
                    catalogue.title[book_index[b]],
                    catalogue.author[book_index[b]],
                    catalogue.genre[book_index[b]],
                    catalogue.publisher[book_index[b]],
                    int(catalogue.publication_year[book_index[b]]),
                    int(catalogue.list_price_cents[book_index[b]]),
                )
                for b, key in book_keys.items()
            ],
        )
        used_customers = {e.customer_id for e in events} & set(cust_keys)
        cur.executemany(
            f"INSERT INTO {s}.dim_customer VALUES (%s, %s, %s, %s, %s, %s)",
            [(0, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, None)]
            + [
                (
                    cust_keys[c],
                    c,
                    catalogue.customer_name[cust_index[c]],
                    catalogue.customer_region[cust_index[c]],
                    catalogue.customer_segment[cust_index[c]],
                    str(catalogue.customer_signup[cust_index[c]]),
                )
                for c in sorted(used_customers)
            ],
        )
        cur.executemany(
            f"INSERT INTO {s}.dim_region VALUES (%s, %s, %s, %s)",
            [(0, UNKNOWN, UNKNOWN, "??")]
            + [(region_keys[r.code], r.code, r.name, r.country) for r in REGIONS],
        )
        cur.executemany(
            f"INSERT INTO {s}.dim_channel VALUES (%s, %s, %s)",
            [(0, UNKNOWN, UNKNOWN)] + [(channel_keys[c.code], c.code, c.name) for c in CHANNELS],
        )
        days = sorted({e.event_date for e in batch})
        cur.executemany(
            f"INSERT INTO {s}.dim_date VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    int(d.strftime("%Y%m%d")),
                    d,
                    d.year,
                    (d.month - 1) // 3 + 1,
                    d.month,
                    d.day,
                    d.isocalendar().week,
                    d.isoweekday(),
                    d.isoweekday() >= 6,
                )
                for d in days
            ],
        )
        cur.executemany(
            f"INSERT INTO {s}.fct_sales VALUES ({', '.join(['%s'] * 19)})",
            [
                (
                    e.event_id,
                    int(e.event_date.strftime("%Y%m%d")),
                    e.event_time.replace(tzinfo=None),
                    e.order_id,
                    e.line_no,
                    book_keys.get(e.product_id, 0),
                    cust_keys.get(e.customer_id, 0),
                    region_keys.get(e.region, 0),
                    channel_keys.get(e.channel, 0),
                    e.event_type,
                    e.quantity,
                    e.units,
                    e.unit_price_cents,
                    e.discount_bp,
                    e.revenue_cents,
                    e.counts_as_order,
                    e.currency,
                    e.payment_method,
                    "generator",
                )
                for e in batch
            ],
        )
        for table, sql in AGG_SQL.items():  # dict order: daily before the monthly built from it
            cur.execute(f"INSERT INTO {s}.{table} {sql.format(s=s)}")
        now = datetime.now(UTC).replace(tzinfo=None)
        cur.execute(f"DELETE FROM {META}.batch_runs WHERE run_id = %s", [run_id])
        row: dict[str, Any] = {
            "run_id": run_id,
            "mode": "full",
            "range_from": days[0] if days else None,
            "range_to": days[-1] if days else None,
            "status": "published",
            "started_at": now - timedelta(seconds=42),
            "finished_at": now,
            "rows_raw": len(batch),
            "rows_deduped": len(batch),
            "rows_fact": len(batch),
            "revenue_cents": sum(e.revenue_cents for e in batch),
            "watermark": watermark,
            "steps": json.dumps({"extract": 1.0, "transform": 2.0, "load": 1.5, "publish": 0.2}),
        }
        row["pg_schema"] = s
        cur.execute(
            f"INSERT INTO {META}.batch_runs ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})",
            list(row.values()),
        )
    return len(batch)


def speed_clear(r: redis.Redis, names: Names | None = None) -> None:
    """Delete every speed-view key of this prefix (markers included)."""
    n = names or Names.from_settings()
    keys = list(r.scan_iter(n.key("*"), count=1000))
    for i in range(0, len(keys), 500):
        r.delete(*keys[i : i + 500])


def markers_set(
    r: redis.Redis, watermark: date | None, run_id: str | None, names: Names | None = None
) -> None:
    """``P:watermark`` and ``P:batch:latest``, as the publish step sets them."""
    n = names or Names.from_settings()
    if watermark is not None:
        r.set(n.key("watermark"), watermark.isoformat())
    if run_id is not None:
        r.set(n.key("batch", "latest"), run_id)


def speed_apply(
    r: redis.Redis,
    events: Sequence[SaleEvent],
    catalogue: Catalogue,
    *,
    names: Names | None = None,
) -> dict[str, Any]:
    """Apply events to the speed views (as the consumer does) and return the live update.

    The update message carries the totals after the change (CONTRACTS.md), so
    a browser can overwrite its numbers with it.
    """
    n = names or Names.from_settings()
    index = {b: i for i, b in enumerate(catalogue.book_id.tolist())}
    pipe = r.pipeline(transaction=True)
    days: set[str] = set()
    minutes: set[int] = set()
    latest = []
    for e in events:
        d = e.event_date.isoformat()
        days.add(d)
        i = index.get(e.product_id)
        genre = catalogue.genre[i] if i is not None else UNKNOWN
        title = catalogue.title[i] if i is not None else e.product_id
        rev, units, order = e.revenue_cents, e.units, int(e.counts_as_order)
        totals = n.day_key("totals", d)
        pipe.hincrby(totals, "revenue_cents", rev)
        pipe.hincrby(totals, "orders", order)
        pipe.hincrby(totals, "units", units)
        pipe.hincrby(totals, "events", 1)
        pipe.hincrby(totals, "refunds", int(e.is_refund))
        pipe.zincrby(n.day_key("book:revenue", d), rev, e.product_id)
        pipe.zincrby(n.day_key("book:units", d), units, e.product_id)
        pipe.zincrby(n.day_key("customer:revenue", d), rev, e.customer_id)
        pipe.zincrby(n.day_key("customer:units", d), units, e.customer_id)
        for view, member in (("region", e.region), ("genre", genre), ("channel", e.channel)):
            key = n.day_key(view, d)
            pipe.hincrby(key, f"{member}:revenue_cents", rev)
            pipe.hincrby(key, f"{member}:orders", order)
            pipe.hincrby(key, f"{member}:units", units)
            pipe.hincrby(key, f"{member}:events", 1)
        epoch = e.event_time_ms // 60_000 * 60
        minutes.add(epoch)
        label = datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M")
        mkey = n.key("minute", label)
        pipe.hincrby(mkey, "revenue_cents", rev)
        pipe.hincrby(mkey, "orders", order)
        pipe.hincrby(mkey, "units", units)
        pipe.hincrby(mkey, "events", 1)
        pipe.expire(mkey, 3 * 3600)
        pipe.zadd(n.key("minutes"), {str(epoch): epoch})
        latest.append(
            {
                "event_id": e.event_id,
                "order_id": e.order_id,
                "line_no": e.line_no,
                "event_time": format_event_time(e.event_time_ms),
                "book_id": e.product_id,
                "title": title,
                "genre": genre,
                "customer_id": e.customer_id,
                "region": e.region,
                "channel": e.channel,
                "quantity": e.quantity,
                "revenue_cents": rev,
                "event_type": e.event_type,
            }
        )
    latest.sort(key=lambda o: o["event_time"], reverse=True)
    for order in reversed(latest):
        pipe.lpush(n.key("latest_orders"), orjson.dumps(order))
    pipe.ltrim(n.key("latest_orders"), 0, 49)
    pipe.execute()
    read = r.pipeline(transaction=False)
    for d in sorted(days):
        read.hgetall(n.day_key("totals", d))
    for epoch in sorted(minutes):
        read.hgetall(n.key("minute", datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M")))
    replies = read.execute()
    day_totals = {
        d: {k: int(v) for k, v in _text(raw).items()} for d, raw in zip(sorted(days), replies, strict=False)
    }
    minute_rows = [
        {"minute": format_event_time(epoch * 1000), **{k: int(v) for k, v in _text(raw).items()}}
        for epoch, raw in zip(sorted(minutes), replies[len(days) :], strict=True)
    ]
    max_ms = max((e.event_time_ms for e in events), default=0)
    return {
        "type": "update",
        "max_event_time": format_event_time(max_ms),
        "published_at": format_event_time(int(datetime.now(UTC).timestamp() * 1000)),
        "days": day_totals,
        "minutes": minute_rows,
        "latest_orders": latest[:50],
    }


def _text(raw: dict[Any, Any]) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in raw.items()
    }


def update_publish(r: redis.Redis, message: dict[str, Any], names: Names | None = None) -> int:
    """Publish a live update on ``P:updates`` (the consumer's channel)."""
    n = names or Names.from_settings()
    return int(r.publish(n.updates_channel, orjson.dumps(message)))
