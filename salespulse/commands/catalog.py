"""``salespulse catalog``: the lake's tables, their partitions and schemas (the Glue role)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "catalog",
        help="list the lake's tables with partitions and schemas (what `salespulse sql` can query)",
        description=(
            "Discover the lake's tables: raw zone datasets (raw_sales, partitioned by source and "
            "event_date), each curated-zone folder holding Parquet, and the reference tables "
            "(books, customers, regions, channels). Partitions are read from the folders; schemas "
            "from the files through Spark (skip with --no-schema for a fast listing)."
        ),
    )
    parser.add_argument("--no-schema", action="store_true", help="folders only: no Spark, no schemas")
    parser.add_argument("--table", action="append", help="only this table (repeatable)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from salespulse.adhoc import catalog

    tables = catalog.discover_tables()
    if args.table:
        unknown = sorted(set(args.table) - {t.name for t in tables})
        if unknown:
            print(f"salespulse catalog: no such table: {', '.join(unknown)}")
            return 1
        tables = [t for t in tables if t.name in args.table]
    if not args.no_schema:
        from salespulse.adhoc.lake_sql import spark_session

        spark = spark_session("salespulse-catalog")
        try:
            tables = catalog.register_views(spark, tables)
        finally:
            spark.stop()
    for line in catalog.describe(tables, schemas=not args.no_schema):
        print(line)
    return 0
