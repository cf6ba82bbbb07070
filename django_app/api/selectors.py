"""Warehouse reads (the batch part of every answer), HackSoftware-style selectors.

The warehouse is written by the Spark batch job (schemas ``warehouse`` and
``warehouse_meta``, docs/CONTRACTS.md) and read here with plain SQL through
Django's connection: same database, no ORM models for tables Django does not
own.  The SQL sticks to what Redshift also runs.  Every range is inclusive and
lies entirely before the watermark (the caller splits it).  Long ranges read
monthly aggregates for whole months and daily ones only for the edges.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from django.db import connection

from api import localcache
from api.merge import DateRange, Totals, month_cover
from api.ranking import Period, PeriodTop, RankSource, TopsFetcher, exact_top, parse_tops
from salespulse.names import BATCH_RUNS_TABLE, CSV_REPORTS_TABLE, Names

META_SCHEMA = "warehouse_meta"
DIMENSIONS = {
    # dimension -> (daily aggregate table, member column)
    "region": ("agg_daily_region", "region_code"),
    "genre": ("agg_daily_genre", "genre"),
    "channel": ("agg_daily_channel", "channel_code"),
}
MEMBER_MEASURES = ("revenue_cents", "orders", "units", "events")


@lru_cache(maxsize=1)
def _names() -> Names:
    return Names.from_settings()


def table(name: str) -> str:
    return _names().table(name)


def meta_table(name: str) -> str:
    return f"{META_SCHEMA}.{name}"


def _fetch(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    localcache.require_io()  # never on the event loop (api.serving retries in a thread)
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def relation_exists(qualified: str) -> bool:
    return _fetch("SELECT to_regclass(%s) IS NOT NULL", [qualified])[0][0]


def _totals(row: Sequence[Any], measures: Iterable[str]) -> Totals:
    return {m: int(v or 0) for m, v in zip(measures, row, strict=False)}


# -- totals and series ---------------------------------------------------------


def sales_totals(rng: DateRange, flt: tuple[str, str] | None = None) -> Totals:
    """Totals over the range; with a dimension filter from that dimension's aggregate."""
    if flt is None:
        row = _fetch(
            "SELECT SUM(revenue_cents), SUM(orders), SUM(units), SUM(events), SUM(refunds) "
            f"FROM {table('agg_daily_sales')} WHERE date BETWEEN %s AND %s",
            [rng.start, rng.end],
        )[0]
        return _totals(row, ("revenue_cents", "orders", "units", "events", "refunds"))
    agg, column = DIMENSIONS[flt[0]]
    row = _fetch(
        "SELECT SUM(revenue_cents), SUM(orders), SUM(units), SUM(events) "
        f"FROM {table(agg)} WHERE date BETWEEN %s AND %s AND {column} = %s",
        [rng.start, rng.end, flt[1]],
    )[0]
    return {**_totals(row, MEMBER_MEASURES), "refunds": None}


def sales_series(rng: DateRange, interval: str, flt: tuple[str, str] | None = None) -> dict[date, Totals]:
    """Totals per bucket (``date_trunc`` week = ISO Monday, as in :func:`api.merge.bucket_start`)."""
    bucket = "date" if interval == "day" else f"CAST(date_trunc('{interval}', date) AS DATE)"
    if flt is None:
        measures: tuple[str, ...] = ("revenue_cents", "orders", "units", "events", "refunds")
        source, where, params = table("agg_daily_sales"), "", [rng.start, rng.end]
    else:
        measures = MEMBER_MEASURES
        agg, column = DIMENSIONS[flt[0]]
        source, where, params = table(agg), f" AND {column} = %s", [rng.start, rng.end, flt[1]]
    sums = ", ".join(f"SUM({m})" for m in measures)
    rows = _fetch(
        f"SELECT {bucket} AS bucket, {sums} FROM {source} "
        f"WHERE date BETWEEN %s AND %s{where} GROUP BY 1 ORDER BY 1",
        params,
    )
    out = {row[0]: _totals(row[1:], measures) for row in rows}
    if flt is not None:
        for totals in out.values():
            totals["refunds"] = None
    return out


def member_totals(dimension: str, rng: DateRange) -> dict[str, Totals]:
    """Per region / genre / channel totals over the range."""
    agg, column = DIMENSIONS[dimension]
    rows = _fetch(
        f"SELECT {column}, SUM(revenue_cents), SUM(orders), SUM(units), SUM(events) "
        f"FROM {table(agg)} WHERE date BETWEEN %s AND %s GROUP BY 1",
        [rng.start, rng.end],
    )
    return {row[0]: _totals(row[1:], MEMBER_MEASURES) for row in rows}


# -- rankings ----------------------------------------------------------------


def _covered(daily: str, monthly: str, key: str, cols: str, rng: DateRange) -> tuple[str, list[Any]]:
    """A UNION ALL of monthly rows for whole months and daily rows for the edges."""
    months, edges = month_cover(rng.start, rng.end)
    parts: list[str] = []
    params: list[Any] = []
    if months:
        parts.append(f"SELECT {key}, {cols} FROM {table(monthly)} WHERE month BETWEEN %s AND %s")
        params += [months[0], months[1]]
    for lo, hi in edges:
        parts.append(f"SELECT {key}, {cols} FROM {table(daily)} WHERE date BETWEEN %s AND %s")
        params += [lo, hi]
    return " UNION ALL ".join(parts), params


def _ranked_full(
    src: RankSource,
    order_by: str,
    rng: DateRange,
    limit: int,
    include: Iterable[str],
    key_filter: tuple[str, list[str]] | None = None,
) -> dict[str, Totals]:
    """The plain aggregation over the range: top ``limit`` keys outside ``include`` plus ``include``.

    Exact but proportional to the rows in the range (seconds over five years of
    per-book months); :func:`api.ranking.exact_top` only falls back to it.
    """
    cols = ", ".join(src.measures)
    union, params = _covered(src.daily, src.monthly, src.key, cols, rng)
    where, fparams = "", []
    if key_filter is not None:
        where = f" WHERE {src.key} IN (SELECT {key_filter[0]})"
        fparams = key_filter[1]
    sums = ", ".join(f"SUM({m}) AS {m}" for m in src.measures)
    include = list(include)
    sql = (
        f"WITH t AS (SELECT {src.key} AS k, {sums} FROM ({union}) u{where} GROUP BY {src.key}) "
        f"(SELECT * FROM t WHERE NOT (k = ANY(%s)) ORDER BY {order_by} DESC, k ASC LIMIT %s) "
        "UNION ALL SELECT * FROM t WHERE k = ANY(%s)"
    )
    rows = _fetch(sql, [*params, *fparams, include, limit, include])
    return {row[0]: _totals(row[1:], src.measures) for row in rows}


def ranked_totals(
    src: RankSource, rng: DateRange, keys: Sequence[str], key_filter: tuple[str, list[str]] | None = None
) -> dict[str, Totals]:
    """Exact totals of ``keys`` over the range (index lookups by key, months + edge days)."""
    if not keys:
        return {}
    cols = ", ".join(src.measures)
    months, edges = month_cover(rng.start, rng.end)
    parts: list[str] = []
    params: list[Any] = []
    keys = list(keys)
    if months:
        parts.append(
            f"SELECT {src.key}, {cols} FROM {table(src.monthly)} "
            f"WHERE month BETWEEN %s AND %s AND {src.key} = ANY(%s)"
        )
        params += [months[0], months[1], keys]
    for lo, hi in edges:
        parts.append(
            f"SELECT {src.key}, {cols} FROM {table(src.daily)} "
            f"WHERE date BETWEEN %s AND %s AND {src.key} = ANY(%s)"
        )
        params += [lo, hi, keys]
    sums = ", ".join(f"SUM({m})" for m in src.measures)
    rows = _fetch(f"SELECT {src.key}, {sums} FROM ({' UNION ALL '.join(parts)}) u GROUP BY 1", params)
    return {row[0]: _totals(row[1:], src.measures) for row in rows}


def period_tops(
    src: RankSource,
    measure: str,
    spans: list[Period],
    depth: int,
    key_filter: tuple[str, list[str]] | None = None,
) -> dict[Period, PeriodTop]:
    """The best ``depth`` keys by ``measure`` of each period (one query for all of them).

    PostgreSQL's ``LATERAL`` runs one ``ORDER BY .. LIMIT`` per period over the
    ``(period, key)`` index, i.e. reads each period's rows once; an index on
    ``(period, measure DESC)`` would make it read only ``depth`` rows (see the
    report to the batch layer).
    """
    if measure not in src.measures:
        raise ValueError(f"unknown measure {measure!r}")
    where, fparams = "", []
    if key_filter is not None:
        where = f" AND {src.key} IN (SELECT {key_filter[0]})"
        fparams = key_filter[1]
    parts: list[str] = []
    params: list[Any] = []
    for grain, tbl, col in (("month", src.monthly, "month"), ("day", src.daily, "date")):
        dates = [p for g, p in spans if g == grain]
        if not dates:
            continue
        parts.append(
            f"SELECT '{grain}', p, t.k, t.v FROM unnest(%s::date[]) AS p, LATERAL ("
            f"SELECT {src.key} AS k, {measure} AS v FROM {table(tbl)} WHERE {col} = p{where} "
            f"ORDER BY {measure} DESC, {src.key} ASC LIMIT %s) t"
        )
        params += [dates, *fparams, depth]
    rows = _fetch(" UNION ALL ".join(parts), params) if parts else []
    rows.sort(key=lambda r: (r[0], r[1], -int(r[3] or 0), r[2]))
    return parse_tops(rows, spans, depth)


BOOKS = RankSource("agg_daily_book", "agg_monthly_book", "book_id")
CUSTOMERS = RankSource("agg_daily_customer", "agg_monthly_customer", "customer_id")


def genre_filter(genre: str | None) -> tuple[str, list[str]] | None:
    """A ``key IN (SELECT ...)`` restriction of book ids to one genre (from dim_book)."""
    if genre is None:
        return None
    return (f"book_id FROM {table('dim_book')} WHERE genre = %s", [genre])


def book_candidates(
    rng: DateRange,
    by: str,
    limit: int,
    include: Iterable[str],
    genre: str | None = None,
    tops: TopsFetcher | None = None,
) -> dict[str, Totals]:
    """Exact batch totals (revenue_cents, units) of the top ``limit`` books outside ``include``,
    plus every book of ``include``.  ``tops`` lets the caller cache the per-period lists."""
    return _candidates(BOOKS, rng, by, limit, include, genre_filter(genre), tops)


def customer_candidates(
    rng: DateRange, by: str, limit: int, include: Iterable[str], tops: TopsFetcher | None = None
) -> dict[str, Totals]:
    """Exact batch totals (revenue_cents, units) of the top ``limit`` customers outside
    ``include``, plus every customer of ``include``."""
    return _candidates(CUSTOMERS, rng, by, limit, include, None, tops)


def _candidates(
    src: RankSource,
    rng: DateRange,
    by: str,
    limit: int,
    include: Iterable[str],
    key_filter: tuple[str, list[str]] | None,
    tops: TopsFetcher | None,
) -> dict[str, Totals]:
    order = "revenue_cents" if by == "revenue" else "units"
    include = list(include)
    return exact_top(
        rng,
        order,
        limit,
        include,
        fetch_tops=tops or (lambda spans, depth: period_tops(src, order, spans, depth, key_filter)),
        fetch_totals=lambda keys: ranked_totals(src, rng, keys),
        fetch_full=lambda: _ranked_full(src, order, rng, limit, include, key_filter),
    )


def book_details(book_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    ids = list(book_ids)
    if not ids or not relation_exists(table("dim_book")):
        return {}
    rows = _fetch(
        f"SELECT book_id, title, author, genre, publisher FROM {table('dim_book')} WHERE book_id = ANY(%s)",
        [ids],
    )
    return {r[0]: {"title": r[1], "author": r[2], "genre": r[3], "publisher": r[4]} for r in rows}


def book_genres(book_ids: Iterable[str]) -> dict[str, str]:
    return {k: v["genre"] for k, v in book_details(book_ids).items()}


def customer_details(customer_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    ids = list(customer_ids)
    if not ids or not relation_exists(table("dim_customer")):
        return {}
    rows = _fetch(
        f"SELECT customer_id, customer_name, region, segment FROM {table('dim_customer')} "
        "WHERE customer_id = ANY(%s)",
        [ids],
    )
    return {r[0]: {"name": r[1], "region": r[2], "segment": r[3]} for r in rows}


# -- pipeline metadata -------------------------------------------------------------

RUN_COLUMNS = (
    "run_id",
    "mode",
    "range_from",
    "range_to",
    "status",
    "started_at",
    "finished_at",
    "rows_raw",
    "rows_deduped",
    "rows_fact",
    "revenue_cents",
    "watermark",
    "steps",
    "error",
)


def _run(row: Sequence[Any]) -> dict[str, Any]:
    run = dict(zip(RUN_COLUMNS, row, strict=True))
    for key in ("range_from", "range_to", "started_at", "finished_at", "watermark"):
        run[key] = _iso(run[key])
    with contextlib.suppress(ValueError):  # not JSON: show the text as it is
        run["steps"] = json.loads(run["steps"]) if run["steps"] else {}
    return run


def _iso(value: Any) -> str | None:
    """Dates as ``YYYY-MM-DD``; warehouse TIMESTAMPs are naive UTC, so say so."""
    if value is None:
        return None
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.isoformat(timespec="seconds") + "Z"
    return value.isoformat()


def _schema_filter() -> tuple[str, list[Any]]:
    """Only runs of the schema this app reads, when runs record their schema.

    Several warehouses (a dev schema, a test run) may share ``warehouse_meta``;
    a run published into another schema says nothing about this one.
    """
    has_column = _fetch(
        "SELECT COUNT(*) FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s AND column_name = 'pg_schema'",
        [META_SCHEMA, BATCH_RUNS_TABLE],
    )[0][0]
    return ("pg_schema = %s", [_names().pg_schema]) if has_column else ("TRUE", [])


def batch_runs(limit: int = 10) -> list[dict[str, Any]]:
    """The newest batch runs of this warehouse, any status."""
    if not relation_exists(meta_table(BATCH_RUNS_TABLE)):
        return []
    where, params = _schema_filter()
    rows = _fetch(
        f"SELECT {', '.join(RUN_COLUMNS)} FROM {meta_table(BATCH_RUNS_TABLE)} WHERE {where} "
        "ORDER BY started_at DESC NULLS LAST LIMIT %s",
        [*params, limit],
    )
    return [_run(r) for r in rows]


def latest_published_run() -> dict[str, Any] | None:
    if not relation_exists(meta_table(BATCH_RUNS_TABLE)):
        return None
    where, params = _schema_filter()
    rows = _fetch(
        f"SELECT {', '.join(RUN_COLUMNS)} FROM {meta_table(BATCH_RUNS_TABLE)} "
        f"WHERE status = 'published' AND {where} ORDER BY finished_at DESC NULLS LAST LIMIT 1",
        params,
    )
    return _run(rows[0]) if rows else None


def batch_run(run_id: str) -> dict[str, Any] | None:
    if not relation_exists(meta_table(BATCH_RUNS_TABLE)):
        return None
    rows = _fetch(
        f"SELECT {', '.join(RUN_COLUMNS)} FROM {meta_table(BATCH_RUNS_TABLE)} WHERE run_id = %s",
        [run_id],
    )
    return _run(rows[0]) if rows else None


def csv_reports(limit: int = 20) -> list[dict[str, Any]]:
    """Recent CSV ingestion reports (rows read, loaded, rejected, with the reason)."""
    if not relation_exists(meta_table(CSV_REPORTS_TABLE)):
        return []
    cols = (
        "file_name",
        "file_sha256",
        "ingested_at",
        "rows_read",
        "rows_loaded",
        "rows_replaced",
        "rows_rejected",
        "status",
        "reason",
    )
    rows = _fetch(
        f"SELECT {', '.join(cols)} FROM {meta_table(CSV_REPORTS_TABLE)} "
        "ORDER BY ingested_at DESC NULLS LAST LIMIT %s",
        [limit],
    )
    out = []
    for row in rows:
        item = dict(zip(cols, row, strict=True))
        item["ingested_at"] = _iso(item["ingested_at"])
        out.append(item)
    return out
