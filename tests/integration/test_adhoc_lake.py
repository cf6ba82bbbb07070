"""Ad-hoc Spark SQL over a small raw zone written with the lake's own writer: exact answers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from salespulse import lake
from salespulse.adhoc import catalog
from salespulse.adhoc.guard import QueryRefused
from salespulse.adhoc.lake_sql import check_lake_query, run_lake_query, spark_session
from salespulse.events import SaleEvent
from salespulse.metrics import revenue_cents
from salespulse.names import Names
from salespulse.settings import Settings, with_overrides


def _ms(day: int, hour: int) -> int:
    return int(datetime(2026, 3, day, hour, tzinfo=UTC).timestamp() * 1000)


def _event(n: int, day: int, qty: int, price: int, discount: int = 0, kind: str = "sale") -> SaleEvent:
    return SaleEvent(
        event_id=str(uuid.UUID(int=n)),
        event_type=kind,
        event_time_ms=_ms(day, 10 + n % 10),
        order_id=f"O{n:05d}",
        line_no=1 if n % 2 else 2,
        customer_id="CU0000001",
        product_id=f"BK{(n % 3) + 1:07d}",
        quantity=qty,
        unit_price_cents=price,
        discount_bp=discount,
        currency="USD",
        channel="web" if n % 2 else "mobile_app",
        region="uk" if day == 2 else "us-east",
        payment_method="card",
    )


STREAM = [
    _event(1, 1, 2, 1999),
    _event(2, 1, 1, 1500, 1000),
    _event(3, 2, 3, 999),
    _event(4, 3, 1, 1999, 0, "refund"),
]
GENERATOR = [_event(11, 2, 5, 1299, 2500), _event(12, 2, 1, 4999)]


@pytest.fixture(scope="module")
def lake_settings(stack, tmp_path_factory: pytest.TempPathFactory) -> Settings:  # type: ignore[no-untyped-def]
    """Settings of a private lake (the session's shared lake may hold other tests' files)."""
    settings = with_overrides(stack.settings, data_dir=tmp_path_factory.mktemp("adhoc"))
    names = Names.from_settings(settings)
    stream = lake.events_to_table(STREAM, "stream", [f"sales.events/0/{i}" for i in range(4)], 1_000)
    lake.write_by_date(stream, names.raw_sales_dir("stream"), "sales.events-p0-o0-3.parquet")
    gen = lake.events_to_table(GENERATOR, "generator", ["generator/42/0"] * 2, 2_000)
    lake.write_by_date(gen, names.raw_sales_dir("generator"), "gen-42-0.parquet")
    # A curated table (as the batch job would write), partitioned by month, and debris to skip.
    curated = names.zone("curated") / "agg_monthly_sales" / "month=2026-03-01"
    curated.mkdir(parents=True)
    pq.write_table(pa.table({"revenue_cents": pa.array([123], pa.int64())}), curated / "part-0.parquet")
    (curated / ".part-1.parquet.tmp").write_bytes(b"partial")
    (names.zone("curated") / "empty_folder").mkdir()
    return settings


@pytest.fixture(scope="module")
def spark(lake_settings: Settings) -> Iterator[object]:
    session = spark_session("salespulse-adhoc-test", shuffle_partitions=2)
    catalog.register_views(session, catalog.discover_tables(lake_settings), lake_settings)
    yield session
    session.stop()


def test_catalog_lists_exact_tables_and_partitions(lake_settings: Settings) -> None:
    tables = {t.name: t for t in catalog.discover_tables(lake_settings)}
    assert list(tables) == ["raw_sales", "agg_monthly_sales", "books", "customers", "regions", "channels"]
    raw = tables["raw_sales"]
    assert raw.zone == "raw"
    assert raw.partition_columns == ("source", "event_date")
    assert raw.partitions == (
        (("source", "generator"), ("event_date", "2026-03-02")),
        (("source", "stream"), ("event_date", "2026-03-01")),
        (("source", "stream"), ("event_date", "2026-03-02")),
        (("source", "stream"), ("event_date", "2026-03-03")),
    )
    assert raw.files == 4
    assert raw.partition_summary() == [
        catalog.PartitionColumn("source", 2, "generator", "stream"),
        catalog.PartitionColumn("event_date", 3, "2026-03-01", "2026-03-03"),
    ]
    monthly = tables["agg_monthly_sales"]
    assert (monthly.zone, monthly.files, monthly.partitions) == ("curated", 1, ((("month", "2026-03-01"),),))
    assert tables["books"].zone == "reference"


def test_catalog_description_shows_partitions_and_schema(spark, lake_settings: Settings) -> None:  # type: ignore[no-untyped-def]
    registered = catalog.register_views(spark, catalog.discover_tables(lake_settings), lake_settings)
    text = "\n".join(catalog.describe(registered))
    assert "raw_sales  [raw]" in text
    assert "partitions: 4 by (source, event_date)" in text
    assert "event_date: 3 values, 2026-03-01 .. 2026-03-03" in text
    assert "source: 2 values, generator .. stream" in text
    raw = next(t for t in registered if t.name == "raw_sales")
    columns = dict(raw.columns)
    assert columns["event_date"] == "date" and columns["source"] == "string"
    assert columns["revenue_cents"] == "bigint" and columns["event_time"] == "timestamp"
    assert len(raw.columns) == len(lake.RAW_SALES_SCHEMA)


def test_sql_over_the_raw_zone_returns_exact_aggregates(spark) -> None:  # type: ignore[no-untyped-def]
    result = run_lake_query(
        spark,
        "SELECT event_date, source, count(*) AS events, sum(revenue_cents) AS revenue_cents "
        "FROM raw_sales GROUP BY event_date, source ORDER BY event_date, source;",
    )
    assert result.columns == ["event_date", "source", "events", "revenue_cents"]

    def rev(events: list[SaleEvent]) -> int:
        return sum(revenue_cents(e.quantity, e.unit_price_cents, e.discount_bp, e.event_type) for e in events)

    assert result.rows == [
        (date(2026, 3, 1), "stream", 2, rev(STREAM[:2])),
        (date(2026, 3, 2), "generator", 2, rev(GENERATOR)),
        (date(2026, 3, 2), "stream", 1, rev(STREAM[2:3])),
        (date(2026, 3, 3), "stream", 1, -1999),
    ]
    assert rev(STREAM[:2]) == 2 * 1999 + 1350
    assert result.truncated is False


def test_sql_joins_reference_tables_and_respects_the_limit(spark) -> None:  # type: ignore[no-untyped-def]
    result = run_lake_query(
        spark,
        "WITH s AS (SELECT product_id, sum(quantity) AS qty FROM raw_sales WHERE event_type = 'sale' "
        "GROUP BY product_id) SELECT s.product_id, s.qty, b.genre IS NOT NULL AS known "
        "FROM s JOIN books b ON b.book_id = s.product_id ORDER BY s.product_id",
        limit=2,
    )
    qty: dict[str, int] = {}
    for e in STREAM + GENERATOR:
        if e.event_type == "sale":
            qty[e.product_id] = qty.get(e.product_id, 0) + e.quantity
    assert qty == {"BK0000001": 4, "BK0000002": 2, "BK0000003": 6}
    assert result.rows == [("BK0000001", 4, True), ("BK0000002", 2, True)]
    assert result.truncated is True
    tz = run_lake_query(
        spark, "SELECT event_time FROM raw_sales WHERE event_id = '00000000-0000-0000-0000-000000000001'"
    )
    assert tz.rows == [(datetime(2026, 3, 1, 11, tzinfo=UTC),)]


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("INSERT INTO raw_sales SELECT * FROM raw_sales", "write"),
        ("CREATE TABLE x AS SELECT 1", "ddl"),
        ("DROP VIEW raw_sales", "ddl"),
        ("CACHE TABLE c AS SELECT 1", "write"),
        ("SET spark.sql.runSQLOnFiles=true", "session"),
        ("SELECT 1; SELECT 2", "multiple_statements"),
        ("EXPLAIN SELECT 1", "not_select"),
        ("SELEC 1", "syntax"),
        (" ; ", "empty"),
    ],
)
def test_lake_sql_is_read_only(spark, sql: str, code: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(QueryRefused) as refused:
        check_lake_query(spark, sql)
    assert refused.value.code == code


def test_no_way_around_the_catalogue(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from pyspark.errors import AnalysisException

    with pytest.raises(AnalysisException, match="reflect"):
        run_lake_query(spark, "SELECT reflect('java.lang.System', 'getProperty', 'user.home')")
    with pytest.raises(AnalysisException):
        run_lake_query(spark, f"SELECT * FROM parquet.`{tmp_path}`")
    assert run_lake_query(spark, "SELECT count(*) FROM raw_sales").rows == [(6,)]
