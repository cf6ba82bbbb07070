"""``salespulse funnel-batch``: daily funnel counts from the raw interactions zone into PostgreSQL."""

from __future__ import annotations

import argparse
import sys
from datetime import date


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "funnel-batch",
        help="rebuild warehouse_meta.agg_daily_funnel from the raw interactions zone",
        description=(
            "Reads raw/interactions/event_date=*/ (Parquet), dedups on interaction_id, counts views, carts, "
            "removes and checkouts per date, genre and channel, and replaces those days in "
            "warehouse_meta.agg_daily_funnel in one transaction (COPY). Without --from/--to the whole table "
            "is rebuilt. Purchases are read from the warehouse's order aggregates when it has them."
        ),
    )
    parser.add_argument("--from", dest="start", type=date.fromisoformat, help="first day (YYYY-MM-DD)")
    parser.add_argument("--to", dest="end", type=date.fromisoformat, help="last day, inclusive (YYYY-MM-DD)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import time

    import psycopg2
    import redis

    from salespulse.interactions import batch, sinks
    from salespulse.names import Names
    from salespulse.reference import get_catalogue
    from salespulse.services import urls
    from salespulse.settings import get_settings

    if args.start and args.end and args.start > args.end:
        print("funnel-batch: --from is after --to", file=sys.stderr)
        return 2
    settings = get_settings()
    names = Names.from_settings(settings)
    rows = batch.compute(sinks.raw_dir(names), get_catalogue(settings), args.start, args.end)
    conn = psycopg2.connect(urls(settings).database)
    try:
        loaded = batch.load(conn, rows, args.start, args.end)
        orders = (
            batch.warehouse_orders(conn, settings.pg_schema, rows.days[0], rows.days[-1])
            if rows.days
            else None
        )
    finally:
        conn.close()
    # The web app caches batch answers; a new load id makes cached funnel answers stale at once.
    redis.Redis.from_url(urls(settings).redis).set(
        names.key("funnel", "batch", "latest"), str(time.time_ns())
    )
    totals = {m: sum(rows.table.column(m).to_pylist()) for m in ("views", "carts", "removes", "checkouts")}
    span = f"{rows.days[0]} .. {rows.days[-1]}" if rows.days else "no days"
    print(
        f"funnel-batch: {rows.rows_raw} raw rows, {rows.rows_deduped} after dedup, {loaded} rows loaded into "
        f"{batch.QUALIFIED} ({span}); "
        + ", ".join(f"{k} {v}" for k, v in totals.items())
        + (
            f", purchases {orders} (warehouse orders)"
            if orders is not None
            else ", purchases n/a (no warehouse)"
        )
    )
    return 0
