"""Pure batch transforms on tiny DataFrames, with exact expected rows."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa
import pytest
from pyspark.sql import Row
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from salespulse.batch import aggregates, dims, transforms
from salespulse.events import SaleEvent
from salespulse.lake import events_to_table
from salespulse.reference import build_catalogue
from salespulse.warehouse import ddl


def ms(day: int, hour: int = 12) -> int:
    return int(datetime(2026, 2, day, hour, tzinfo=UTC).timestamp() * 1000)


def event(eid: str, day: int, **kw: object) -> SaleEvent:
    base: dict[str, object] = dict(
        event_id=eid,
        event_type="sale",
        event_time_ms=ms(day),
        order_id=f"o-{eid}",
        line_no=1,
        customer_id="CU0000001",
        product_id="BK0000001",
        quantity=1,
        unit_price_cents=1000,
        discount_bp=0,
        currency="USD",
        channel="web",
        region="uk",
        payment_method="card",
    )
    base.update(kw)
    return SaleEvent(**base)  # type: ignore[arg-type]


def raw_df(spark, *files: tuple[list[SaleEvent], str, int]):  # type: ignore[no-untyped-def]
    """Raw-zone rows: one (events, source, ingested_at_ms) tuple per file."""
    tables = [
        events_to_table(evs, source, [f"{source}/{at}/{i}" for i in range(len(evs))], at)
        for evs, source, at in files
    ]
    return spark.createDataFrame(pa.concat_tables(tables))


@pytest.fixture(scope="module")
def catalogue():  # type: ignore[no-untyped-def]
    return build_catalogue(seed=1, books=3, customers=2)


def test_dedup_keeps_one_copy_of_a_replay_and_the_latest_csv_version(spark) -> None:
    stream = [event("s1", 1), event("s2", 1)]
    csv_v1 = [event("c1", 2, quantity=1), event("c2", 2, quantity=5)]
    csv_v2 = [event("c1", 3, quantity=2)]  # corrected line, moved to another day
    raw = raw_df(spark, (stream, "stream", 100), (stream[:1], "stream", 200), (csv_v1, "csv", 300))
    raw = raw.unionByName(raw_df(spark, (csv_v2, "csv", 400)))
    got = transforms.dedup_events(raw).select("event_id", "event_date", "quantity", "origin")
    expected = [
        Row(event_id="s1", event_date=date(2026, 2, 1), quantity=1, origin="stream/200/0"),
        Row(event_id="s2", event_date=date(2026, 2, 1), quantity=1, origin="stream/100/1"),
        Row(event_id="c1", event_date=date(2026, 2, 3), quantity=2, origin="csv/400/0"),
        Row(event_id="c2", event_date=date(2026, 2, 2), quantity=5, origin="csv/300/1"),
    ]
    assertDataFrameEqual(got, expected)


def test_published_days_respects_watermark_and_day_set(spark) -> None:
    raw = raw_df(spark, ([event("a", 1), event("b", 2), event("c", 3)], "stream", 1))
    got = transforms.published_days(raw, date(2026, 2, 3)).select("event_id")
    assertDataFrameEqual(got, [Row(event_id="a"), Row(event_id="b")])
    only = transforms.published_days(raw, date(2026, 2, 3), frozenset({date(2026, 2, 2)}))
    assertDataFrameEqual(only.select("event_id"), [Row(event_id="b")])


def test_enrich_assigns_catalogue_adhoc_and_unknown_keys(spark, catalogue) -> None:
    evs = [
        event(
            "k",
            1,
            product_id="BK0000002",
            customer_id="CU0000002",
            channel="phone",
            region="apac",
            quantity=3,
            unit_price_cents=999,
            discount_bp=1000,
        ),
        event("r", 1, event_type="refund", line_no=2, product_id="  ", customer_id="walk-in", region="mars"),
    ]
    cat = dims.catalogue_dims(spark, catalogue)
    fact = transforms.enrich(
        raw_df(spark, (evs, "csv", 1)),
        cat["dim_book"],
        cat["dim_customer"],
        cat["dim_region"],
        cat["dim_channel"],
    )
    adhoc = {
        r["i"]: r["k"]
        for r in spark.createDataFrame([("walk-in",), ("mars",)], ["i"])
        .select("i", transforms.adhoc_key(F.col("i")).alias("k"))
        .collect()
    }
    assert adhoc["walk-in"] < 0 and adhoc["mars"] < 0
    got = fact.select(
        "event_id",
        "date_key",
        "book_key",
        "customer_key",
        "region_key",
        "channel_key",
        "units",
        "revenue_cents",
        "raw_revenue_cents",
        "is_order",
        "book_id",
        "customer_id",
        "region_code",
        "genre",
    )
    expected = [
        Row(
            event_id="k",
            date_key=20260201,
            book_key=2,
            customer_key=2,
            region_key=10,
            channel_key=5,
            units=3,
            revenue_cents=2697,
            raw_revenue_cents=2697,
            is_order=True,
            book_id="BK0000002",
            customer_id="CU0000002",
            region_code="apac",
            genre=str(catalogue.genre[1]),
        ),
        Row(
            event_id="r",
            date_key=20260201,
            book_key=0,
            customer_key=adhoc["walk-in"],
            region_key=adhoc["mars"],
            channel_key=1,
            units=-1,
            revenue_cents=-1000,
            raw_revenue_cents=-1000,
            is_order=False,
            book_id="unknown",
            customer_id="walk-in",
            region_code="mars",
            genre="unknown",
        ),
    ]
    assertDataFrameEqual(got, expected)

    members = dims.adhoc_members(fact, cat["dim_customer"], ddl.DIM_CUSTOMER)
    assertDataFrameEqual(
        members,
        [
            Row(
                customer_key=adhoc["walk-in"],
                customer_id="walk-in",
                customer_name="unknown",
                region="unknown",
                segment="unknown",
                signup_date=None,
            )
        ],
    )
    assert dims.adhoc_members(fact, cat["dim_book"], ddl.DIM_BOOK).count() == 0  # "unknown" is a member


def test_daily_and_monthly_aggregates_are_exact(spark, catalogue) -> None:
    evs = [
        event("a", 1, quantity=2, unit_price_cents=500),
        event("b", 1, line_no=2, quantity=1, unit_price_cents=300),
        event("c", 1, event_type="refund", quantity=1, unit_price_cents=500),
        event("d", 2, quantity=1, unit_price_cents=700, region="us-east"),
    ]
    cat = dims.catalogue_dims(spark, catalogue)
    fact = transforms.enrich(
        raw_df(spark, (evs, "stream", 1)),
        cat["dim_book"],
        cat["dim_customer"],
        cat["dim_region"],
        cat["dim_channel"],
    )
    out = aggregates.all_aggregates(fact)
    d1, d2 = date(2026, 2, 1), date(2026, 2, 2)
    assertDataFrameEqual(
        out["agg_daily_sales"],
        [
            Row(date=d1, revenue_cents=800, orders=1, units=2, events=3, refunds=1),
            Row(date=d2, revenue_cents=700, orders=1, units=1, events=1, refunds=0),
        ],
    )
    assertDataFrameEqual(
        out["agg_daily_region"],
        [
            Row(date=d1, region_code="uk", revenue_cents=800, orders=1, units=2, events=3),
            Row(date=d2, region_code="us-east", revenue_cents=700, orders=1, units=1, events=1),
        ],
    )
    assertDataFrameEqual(
        out["agg_monthly_sales"],
        [Row(month=date(2026, 2, 1), revenue_cents=1500, orders=2, units=3, events=4, refunds=1)],
    )
    assertDataFrameEqual(
        out["agg_monthly_customer"],
        [Row(month=date(2026, 2, 1), customer_id="CU0000001", revenue_cents=1500, units=3, orders=2)],
    )
    assertDataFrameEqual(
        out["agg_daily_book"],
        [
            Row(date=d1, book_id="BK0000001", revenue_cents=800, units=2, events=3),
            Row(date=d2, book_id="BK0000001", revenue_cents=700, units=1, events=1),
        ],
    )
    for table in ddl.AGGS:
        assert tuple(out[table.name].columns) == table.column_names
    # The small daily tables are re-sums of the slices: exactly what grouping the fact gives.
    small = [t.name for t in ddl.DAILY_AGGS if aggregates.by_slices(t)]
    assert small == ["agg_daily_sales", "agg_daily_region", "agg_daily_genre", "agg_daily_channel"]
    for table in ddl.DAILY_AGGS:
        assertDataFrameEqual(out[table.name], aggregates.daily(fact, table))


def test_dim_date_is_iso_and_complete(spark) -> None:
    calendar = dims.dim_date(spark)
    assert calendar.count() == (dims.CALENDAR_LAST - dims.CALENDAR_FIRST).days + 1
    sunday = calendar.filter("date_key = 20260201").collect()
    assert sunday == [
        Row(
            date_key=20260201,
            date=date(2026, 2, 1),
            year=2026,
            quarter=1,
            month=2,
            day=1,
            iso_week=5,
            day_of_week=7,
            is_weekend=True,
        )
    ]
    assert tuple(calendar.columns) == ddl.DIM_DATE.column_names


def test_catalogue_dims_have_unknown_member_and_ddl_columns(spark, catalogue) -> None:
    cat = dims.catalogue_dims(spark, catalogue)
    for table in (ddl.DIM_BOOK, ddl.DIM_CUSTOMER, ddl.DIM_REGION, ddl.DIM_CHANNEL):
        df = cat[table.name]
        assert tuple(df.columns) == table.column_names
        key, member = table.column_names[:2]
        assert df.filter(f"{key} = 0").select(member).collect() == [Row(**{member: "unknown"})]
    assert [r.book_key for r in cat["dim_book"].orderBy("book_key").collect()] == [0, 1, 2, 3]


def test_a_run_with_no_files_reads_an_empty_raw_frame(spark) -> None:
    from salespulse.batch.build import read_raw
    from salespulse.lake import RAW_SALES_SCHEMA

    empty = read_raw(spark, [])
    assert empty.columns == RAW_SALES_SCHEMA.names and empty.count() == 0
    assert transforms.dedup_events(empty).count() == 0


def test_repeated_hashes_finds_every_duplicated_id(spark) -> None:
    raw = raw_df(spark, ([event("a", 1), event("b", 1)], "stream", 100), ([event("a", 2)], "csv", 200))
    got = [r.event_hash for r in transforms.repeated_hashes(raw).collect()]
    (expected,) = [
        r.h for r in spark.createDataFrame([("a",)], ["i"]).select(F.xxhash64("i").alias("h")).collect()
    ]
    assert got == [expected]
    unique = raw_df(spark, ([event("a", 1), event("b", 1)], "stream", 100))
    assert transforms.repeated_hashes(unique).count() == 0


def _write_raw(path, *files: tuple[list[SaleEvent], str, int]) -> list[str]:  # type: ignore[no-untyped-def]
    import pyarrow.parquet as pq

    out = []
    for n, (evs, source, at) in enumerate(files):
        table = events_to_table(evs, source, [f"{source}/{at}/{i}" for i in range(len(evs))], at)
        file = path / f"f{n}.parquet"
        pq.write_table(table, file)
        out.append(str(file))
    return out


@pytest.mark.parametrize("limit", [None, 0])
def test_deduped_raw_only_dedups_the_files_holding_a_repeated_id(spark, tmp_path, monkeypatch, limit) -> None:
    from salespulse.batch import build

    if limit is not None:  # more suspects than the limit: every row goes through the dedup
        monkeypatch.setattr(build, "MAX_SUSPECTS", limit)
    paths = _write_raw(
        tmp_path,
        ([event("g1", 1), event("g2", 1)], "generator", 100),  # clean: no id repeats anywhere
        ([event("s1", 1), event("s2", 1)], "stream", 100),
        ([event("s1", 1), event("s3", 1)], "stream", 200),  # a replay overlapping the file above
        ([event("c1", 2, quantity=1)], "csv", 300),
        ([event("c1", 3, quantity=2)], "csv", 400),  # a corrected CSV line, moved a day
    )
    got, route = build.deduped_raw(spark, paths)
    assert route == ("files" if limit is None else "all")
    expected = [
        Row(event_id="g1", event_date=date(2026, 2, 1), quantity=1, origin="generator/100/0"),
        Row(event_id="g2", event_date=date(2026, 2, 1), quantity=1, origin="generator/100/1"),
        Row(event_id="s1", event_date=date(2026, 2, 1), quantity=1, origin="stream/200/0"),
        Row(event_id="s2", event_date=date(2026, 2, 1), quantity=1, origin="stream/100/1"),
        Row(event_id="s3", event_date=date(2026, 2, 1), quantity=1, origin="stream/200/1"),
        Row(event_id="c1", event_date=date(2026, 2, 3), quantity=2, origin="csv/400/0"),
    ]
    assertDataFrameEqual(got.select("event_id", "event_date", "quantity", "origin"), expected)


def test_deduped_raw_passes_unique_ids_through(spark, tmp_path) -> None:
    from salespulse.batch import build

    paths = _write_raw(tmp_path, ([event("a", 1)], "generator", 1), ([event("b", 2)], "stream", 2))
    got, route = build.deduped_raw(spark, paths)
    assert route == "unique"
    assert build.deduped_raw(spark, paths, rows=2)[1] == "all"  # a small run skips the probe
    assertDataFrameEqual(
        got.select("event_id", "origin"),
        [Row(event_id="a", origin="generator/1/0"), Row(event_id="b", origin="stream/2/0")],
    )
    assert build.deduped_raw(spark, [])[1] == "unique"
