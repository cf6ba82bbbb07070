"""``salespulse sql "SELECT ..."``: one read-only query over the lake (Spark) or the warehouse."""

from __future__ import annotations

import argparse
import getpass
import sys

from salespulse.adhoc.guard import QueryRefused


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "sql",
        help="run one read-only SQL query over the lake's tables (Spark SQL) or the warehouse",
        description=(
            "Run a single SELECT/WITH query. --engine lake (default): Spark SQL over the tables "
            "`salespulse catalog` lists (raw_sales, curated tables, books, customers, regions, "
            "channels). --engine warehouse: PostgreSQL through the read-only role, with a statement "
            "timeout, a row cap and an audit record, as on the staff Explore page. Writes, DDL and "
            "more than one statement are refused (exit code 2)."
        ),
    )
    parser.add_argument("query", help='the query, e.g. "SELECT count(*) FROM raw_sales"; "-" reads stdin')
    parser.add_argument("--format", choices=("table", "csv"), default="table", help="output format")
    parser.add_argument("--limit", type=int, default=1000, help="maximum rows printed (default 1000)")
    parser.add_argument(
        "--engine", choices=("lake", "warehouse"), default="lake", help="where the query runs (default lake)"
    )
    parser.add_argument(
        "--timeout", type=float, default=5.0, help="warehouse statement timeout in seconds (default 5)"
    )
    parser.set_defaults(func=run)


def _print(columns: list[str], rows: list[tuple[object, ...]], truncated: bool, fmt: str, limit: int) -> None:
    from salespulse.adhoc.render import csv_text, table_text

    if fmt == "csv":
        sys.stdout.write(csv_text(columns, rows))
    else:
        print(table_text(columns, rows))
        print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    if truncated:
        print(f"salespulse sql: output cut at {limit} rows (--limit)", file=sys.stderr)


def _lake(query: str, args: argparse.Namespace) -> int:
    from salespulse.adhoc import catalog
    from salespulse.adhoc.lake_sql import run_lake_query, spark_session

    spark = spark_session()
    try:
        catalog.register_views(spark, catalog.discover_tables())
        try:
            result = run_lake_query(spark, query, limit=args.limit)
        except QueryRefused:
            raise
        except Exception as exc:  # Spark's analysis errors: unknown table or column, type errors
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            print(f"salespulse sql: {message}", file=sys.stderr)
            return 1
        _print(result.columns, result.rows, result.truncated, args.format, args.limit)
        return 0
    finally:
        spark.stop()


def _warehouse(query: str, args: argparse.Namespace) -> int:
    from salespulse.adhoc.warehouse_sql import QueryFailed, run_readonly_query

    try:
        result = run_readonly_query(
            query, f"cli:{getpass.getuser()}", timeout_s=args.timeout, row_cap=args.limit
        )
    except QueryFailed as exc:
        print(f"salespulse sql: {exc.message}", file=sys.stderr)
        return 1
    _print(result.columns, result.rows, result.truncated, args.format, args.limit)
    return 0


def run(args: argparse.Namespace) -> int:
    if args.limit < 1:
        print("salespulse sql: --limit must be >= 1", file=sys.stderr)
        return 2
    query = sys.stdin.read() if args.query == "-" else args.query
    try:
        return _lake(query, args) if args.engine == "lake" else _warehouse(query, args)
    except QueryRefused as exc:
        print(f"salespulse sql: refused: {exc.message}", file=sys.stderr)
        return 2
