"""Warehouse table definitions, in SQL that PostgreSQL and Redshift both accept.

One table spec (name, columns, the date column and the natural keys) drives
everything: the Spark job selects these columns in this order when it writes
the curated zone, the loader COPYs them, the quality gate and the publish step
iterate over them.  Types are limited to BIGINT, INTEGER, SMALLINT,
VARCHAR(n), DATE, TIMESTAMP and BOOLEAN (no SERIAL, TEXT, JSONB or arrays), so
the same DDL runs on Redshift.  Indexes are PostgreSQL-only and kept apart.
"""

from __future__ import annotations

from dataclasses import dataclass

ID = "VARCHAR(256)"  # CSV ids are free-form strings: wider than sale.v1's 64
MONEY = "BIGINT"  # integer cents
COUNT = "BIGINT"

META_SCHEMA = "warehouse_meta"


@dataclass(frozen=True, slots=True)
class Table:
    """One warehouse table: columns in load order, plus how the gate and merge treat it."""

    name: str
    columns: tuple[tuple[str, str], ...]
    #: Column that makes a row belong to a day (incremental merges replace whole days).
    date_column: str | None = None
    #: Columns that must be unique and not null together.
    unique: tuple[str, ...] = ()
    #: Measures an aggregate must sum to the same totals as the fact table.
    measures: tuple[str, ...] = ()
    #: Month aggregates are recomputed from the daily one named here at merge time.
    monthly_from: str | None = None
    kind: str = "agg"  # dim | fact | agg | info

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.columns)


def _agg_cols(*keys: tuple[str, str], measures: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return (*keys, *((m, MONEY if m == "revenue_cents" else COUNT) for m in measures))


_TOTALS = ("revenue_cents", "orders", "units", "events", "refunds")
_SLICE = ("revenue_cents", "orders", "units", "events")
_BOOK = ("revenue_cents", "units", "events")
_CUSTOMER = ("revenue_cents", "units", "orders")

DIM_BOOK = Table(
    "dim_book",
    (
        ("book_key", "BIGINT NOT NULL"),
        ("book_id", f"{ID} NOT NULL"),
        ("isbn", "VARCHAR(32)"),
        ("title", "VARCHAR(512) NOT NULL"),
        ("author", "VARCHAR(256) NOT NULL"),
        ("genre", "VARCHAR(64) NOT NULL"),
        ("publisher", "VARCHAR(128) NOT NULL"),
        ("publication_year", "INTEGER"),
        ("list_price_cents", "BIGINT"),
    ),
    unique=("book_key",),
    kind="dim",
)
DIM_CUSTOMER = Table(
    "dim_customer",
    (
        ("customer_key", "BIGINT NOT NULL"),
        ("customer_id", f"{ID} NOT NULL"),
        ("customer_name", "VARCHAR(256) NOT NULL"),
        ("region", "VARCHAR(64) NOT NULL"),
        ("segment", "VARCHAR(32) NOT NULL"),
        ("signup_date", "DATE"),
    ),
    unique=("customer_key",),
    kind="dim",
)
DIM_DATE = Table(
    "dim_date",
    (
        ("date_key", "INTEGER NOT NULL"),
        ("date", "DATE NOT NULL"),
        ("year", "SMALLINT NOT NULL"),
        ("quarter", "SMALLINT NOT NULL"),
        ("month", "SMALLINT NOT NULL"),
        ("day", "SMALLINT NOT NULL"),
        ("iso_week", "SMALLINT NOT NULL"),
        ("day_of_week", "SMALLINT NOT NULL"),
        ("is_weekend", "BOOLEAN NOT NULL"),
    ),
    unique=("date_key",),
    kind="dim",
)
DIM_REGION = Table(
    "dim_region",
    (
        ("region_key", "BIGINT NOT NULL"),
        ("region_code", "VARCHAR(64) NOT NULL"),
        ("region_name", "VARCHAR(128) NOT NULL"),
        ("country", "VARCHAR(16) NOT NULL"),
    ),
    unique=("region_key",),
    kind="dim",
)
DIM_CHANNEL = Table(
    "dim_channel",
    (
        ("channel_key", "BIGINT NOT NULL"),
        ("channel_code", "VARCHAR(64) NOT NULL"),
        ("channel_name", "VARCHAR(128) NOT NULL"),
    ),
    unique=("channel_key",),
    kind="dim",
)
FCT_SALES = Table(
    "fct_sales",
    (
        ("event_id", "VARCHAR(64) NOT NULL"),
        ("date_key", "INTEGER NOT NULL"),
        ("event_time", "TIMESTAMP NOT NULL"),
        ("order_id", f"{ID} NOT NULL"),
        ("line_no", "INTEGER NOT NULL"),
        ("book_key", "BIGINT NOT NULL"),
        ("customer_key", "BIGINT NOT NULL"),
        ("region_key", "BIGINT NOT NULL"),
        ("channel_key", "BIGINT NOT NULL"),
        ("event_type", "VARCHAR(8) NOT NULL"),
        ("quantity", "INTEGER NOT NULL"),
        ("units", "INTEGER NOT NULL"),
        ("unit_price_cents", "BIGINT NOT NULL"),
        ("discount_bp", "INTEGER NOT NULL"),
        ("revenue_cents", "BIGINT NOT NULL"),
        ("is_order", "BOOLEAN NOT NULL"),
        ("currency", "VARCHAR(16) NOT NULL"),
        ("payment_method", "VARCHAR(32) NOT NULL"),
        ("source", "VARCHAR(16) NOT NULL"),
    ),
    date_column="date_key",
    unique=("event_id",),
    kind="fact",
)


def _agg(
    name: str, key: tuple[str, str] | None, measures: tuple[str, ...], *, monthly_from: str | None = None
) -> Table:
    period = ("month", "DATE NOT NULL") if name.startswith("agg_monthly") else ("date", "DATE NOT NULL")
    keys = (period, key) if key else (period,)
    return Table(
        name,
        _agg_cols(*keys, measures=measures),
        date_column=None if monthly_from else "date",
        unique=tuple(k for k, _ in keys),
        measures=measures,
        monthly_from=monthly_from,
    )


AGG_DAILY_SALES = _agg("agg_daily_sales", None, _TOTALS)
AGG_DAILY_REGION = _agg("agg_daily_region", ("region_code", "VARCHAR(64) NOT NULL"), _SLICE)
AGG_DAILY_GENRE = _agg("agg_daily_genre", ("genre", "VARCHAR(64) NOT NULL"), _SLICE)
AGG_DAILY_CHANNEL = _agg("agg_daily_channel", ("channel_code", "VARCHAR(64) NOT NULL"), _SLICE)
AGG_DAILY_BOOK = _agg("agg_daily_book", ("book_id", f"{ID} NOT NULL"), _BOOK)
AGG_DAILY_CUSTOMER = _agg("agg_daily_customer", ("customer_id", f"{ID} NOT NULL"), _CUSTOMER)
AGG_MONTHLY_SALES = _agg("agg_monthly_sales", None, _TOTALS, monthly_from="agg_daily_sales")
AGG_MONTHLY_BOOK = _agg(
    "agg_monthly_book", ("book_id", f"{ID} NOT NULL"), _BOOK, monthly_from="agg_daily_book"
)
AGG_MONTHLY_CUSTOMER = _agg(
    "agg_monthly_customer", ("customer_id", f"{ID} NOT NULL"), _CUSTOMER, monthly_from="agg_daily_customer"
)

#: Which run a schema holds: written by the load step, travels with the swap.
BATCH_INFO = Table(
    "batch_info",
    (
        ("run_id", "VARCHAR(40) NOT NULL"),
        ("mode", "VARCHAR(16) NOT NULL"),
        ("watermark", "DATE NOT NULL"),
        ("catalogue", "VARCHAR(64) NOT NULL"),
        ("loaded_at", "TIMESTAMP NOT NULL"),
    ),
    kind="info",
)

DIMS = (DIM_BOOK, DIM_CUSTOMER, DIM_DATE, DIM_REGION, DIM_CHANNEL)
DAILY_AGGS = (
    AGG_DAILY_SALES,
    AGG_DAILY_REGION,
    AGG_DAILY_GENRE,
    AGG_DAILY_CHANNEL,
    AGG_DAILY_BOOK,
    AGG_DAILY_CUSTOMER,
)
MONTHLY_AGGS = (AGG_MONTHLY_SALES, AGG_MONTHLY_BOOK, AGG_MONTHLY_CUSTOMER)
AGGS = DAILY_AGGS + MONTHLY_AGGS
#: Every table Spark writes to the curated zone, biggest first (the loader starts those first).
CURATED = (FCT_SALES, AGG_DAILY_CUSTOMER, AGG_DAILY_BOOK, AGG_MONTHLY_BOOK, AGG_MONTHLY_CUSTOMER, *DIMS)
CURATED += tuple(t for t in AGGS if t not in CURATED)
ALL = (*CURATED, BATCH_INFO)
BY_NAME = {t.name: t for t in ALL}

#: PostgreSQL-only indexes (Redshift has none; sort keys would go in its DDL instead), only
#: what a reader uses, because each one costs a sort of its table on every full rebuild:
#: the API (``django_app/api/selectors.py``, ``salespulse/insights_io.py``) reads aggregates by
#: date/month range (plus the member on the small per-dimension tables) and ``dim_book`` /
#: ``dim_customer`` by id or genre; the incremental merge deletes fact days by ``date_key``,
#: probes fact ``event_id`` and dimension keys.  Nothing reads the fact by book or customer.
INDEXES: dict[str, tuple[tuple[str, ...], ...]] = {
    "fct_sales": (("event_id",), ("date_key",)),
    "dim_book": (("book_key",), ("book_id",), ("genre",)),
    "dim_customer": (("customer_key",), ("customer_id",)),
    "dim_date": (("date_key",), ("date",)),
    "dim_region": (("region_key",), ("region_code",)),
    "dim_channel": (("channel_key",), ("channel_code",)),
    "agg_daily_sales": (("date",),),
    "agg_daily_region": (("date", "region_code"),),
    "agg_daily_genre": (("date", "genre"),),
    "agg_daily_channel": (("date", "channel_code"),),
    "agg_daily_book": (("date",),),
    "agg_daily_customer": (("date",),),
    "agg_monthly_sales": (("month",),),
    "agg_monthly_book": (("month",),),
    "agg_monthly_customer": (("month",),),
}
#: Unique indexes the quality gate builds (a duplicate makes the build fail): every key the
#: gate requires unique, so the check and the index are one sort, and they keep guarding
#: the published tables against a duplicate inserted later (an incremental merge).
UNIQUE_INDEXES = {
    ("fct_sales", ("event_id",)),
    ("dim_book", ("book_key",)),
    ("dim_book", ("book_id",)),
    ("dim_customer", ("customer_key",)),
    ("dim_customer", ("customer_id",)),
    ("dim_date", ("date_key",)),
    ("dim_date", ("date",)),
    ("dim_region", ("region_key",)),
    ("dim_region", ("region_code",)),
    ("dim_channel", ("channel_key",)),
    ("dim_channel", ("channel_code",)),
    ("agg_daily_sales", ("date",)),
    ("agg_monthly_sales", ("month",)),
}


def create_table_sql(table: Table, schema: str) -> str:
    cols = ",\n  ".join(f"{name} {sql_type}" for name, sql_type in table.columns)
    return f"CREATE TABLE {schema}.{table.name} (\n  {cols}\n)"


def index_sql(schema: str, table: str, columns: tuple[str, ...]) -> str:
    """``IF NOT EXISTS``: the gate builds the unique ones first; the index step skips them."""
    unique = "UNIQUE " if (table, columns) in UNIQUE_INDEXES else ""
    name = f"ix_{table}_{'_'.join(columns)}"
    return f"CREATE {unique}INDEX IF NOT EXISTS {name} ON {schema}.{table} ({', '.join(columns)})"


def gate_indexes() -> list[tuple[str, tuple[str, ...]]]:
    """The unique indexes the quality gate builds, biggest table first."""
    order = {t.name: i for i, t in enumerate(CURATED)}
    return sorted(UNIQUE_INDEXES, key=lambda item: (order.get(item[0], 99), item[1]))


META_DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {META_SCHEMA}",
    f"""CREATE TABLE IF NOT EXISTS {META_SCHEMA}.batch_runs (
  run_id VARCHAR(40) NOT NULL,
  pg_schema VARCHAR(64) NOT NULL,
  mode VARCHAR(16) NOT NULL,
  range_from DATE,
  range_to DATE,
  status VARCHAR(16) NOT NULL,
  started_at TIMESTAMP NOT NULL,
  finished_at TIMESTAMP,
  rows_raw BIGINT,
  rows_deduped BIGINT,
  rows_fact BIGINT,
  revenue_cents BIGINT,
  watermark DATE,
  steps VARCHAR(4000),
  error VARCHAR(4000)
)""",
    f"""CREATE TABLE IF NOT EXISTS {META_SCHEMA}.batch_files (
  pg_schema VARCHAR(64) NOT NULL,
  path VARCHAR(1024) NOT NULL,
  event_date DATE NOT NULL,
  size_bytes BIGINT NOT NULL,
  mtime_ns BIGINT NOT NULL,
  run_id VARCHAR(40) NOT NULL
)""",
)
