"""Lake -> warehouse end to end, on the real Spark and PostgreSQL.

One scenario, in order (each step builds on the previous warehouse):

1. a full rebuild of a few thousand events from three sources (generator
   history, stream files with a replayed batch, CSV files where a later file
   corrects and moves lines), checked table by table against a plain-Python
   computation from the same events;
2. spark-submit killed (SIGKILL) right after loading staging: the published
   warehouse is byte-for-byte unchanged, the run is recorded as abandoned, and
   a rerun publishes identical tables;
3. one more day of events (plus a CSV correction moving a line between two
   published days) through an incremental run, equal to the independent
   computation and to a full rebuild;
4. that full rebuild run the way the DAG runs it (build+load, quality gate,
   publish), with the gate and the publish each run twice, as a retried
   Airflow task would: the second check re-checks, the second publish is a
   no-op that exits 0 and changes nothing.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg2
import pytest
import redis

from salespulse.batch import pipeline
from salespulse.events import SaleEvent
from salespulse.lake import events_to_table, partition_dir, write_atomic
from salespulse.metrics import counts_as_order, revenue_cents, signed_units
from salespulse.names import Names
from salespulse.reference import CHANNELS, REGIONS, get_catalogue
from salespulse.settings import get_settings
from salespulse.warehouse import ddl

FIRST = date(2026, 1, 20)
W0 = date(2026, 2, 15)  # first watermark
W1 = W0 + timedelta(days=1)  # after one more day


@dataclass(frozen=True)
class Stored:
    """One raw-zone row: the event and where/when it was stored."""

    event: SaleEvent
    source: str
    origin: str
    ingested_at: int


class Lake:
    """Writes raw files exactly as the producers do and remembers every row written."""

    def __init__(self, names: Names):
        self.names = names
        self.rows: list[Stored] = []

    def write(self, events: list[SaleEvent], source: str, file_name: str, ingested_at: int) -> None:
        by_day: dict[date, list[SaleEvent]] = defaultdict(list)
        for e in events:
            by_day[e.event_date].append(e)
        for day, evs in by_day.items():
            origins = [f"{source}/{file_name}:{i}" for i in range(len(evs))]
            table = events_to_table(evs, source, origins, ingested_at)
            path = partition_dir(self.names.raw_sales_dir(source), day.isoformat()) / file_name
            write_atomic(table, path)
            self.rows += [Stored(e, source, o, ingested_at) for e, o in zip(evs, origins, strict=True)]


class Events:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        cat = get_catalogue()
        self.books = cat.book_id[:300].tolist()
        self.customers = cat.customer_id[:500].tolist()
        self.n = 0

    def one(self, day: date, **kw: object) -> SaleEvent:
        rng = self.rng
        self.n += 1
        start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
        fields: dict[str, object] = dict(
            event_id=f"00000000-0000-4000-8000-{self.n:012d}",
            event_type="refund" if rng.random() < 0.05 else "sale",
            event_time_ms=start + rng.randrange(86_400_000),
            order_id=f"O{self.n // 2:08d}",
            line_no=rng.choice((1, 1, 2, 3)),
            customer_id=rng.choice(self.customers),
            product_id=rng.choice(self.books),
            quantity=rng.randint(1, 4),
            unit_price_cents=rng.randint(199, 4999),
            discount_bp=rng.choice((0, 0, 500, 1500)),
            currency="USD",
            channel=rng.choice(CHANNELS).code,
            region=rng.choice(REGIONS).code,
            payment_method="card",
        )
        fields.update(kw)
        return SaleEvent(**fields)  # type: ignore[arg-type]

    def days(self, first: date, last: date, per_day: int) -> list[SaleEvent]:
        out = []
        day = first
        while day <= last:
            out += [self.one(day) for _ in range(per_day)]
            day += timedelta(days=1)
        return out


def member(raw_id: str) -> str:
    return raw_id.strip() or "unknown"


def deduped(rows: Iterable[Stored], watermark: date) -> list[SaleEvent]:
    """Independent dedup: per event_id the latest ingested_at (then origin) wins."""
    best: dict[str, Stored] = {}
    for r in rows:
        cur = best.get(r.event.event_id)
        if cur is None or (r.ingested_at, r.origin) > (cur.ingested_at, cur.origin):
            best[r.event.event_id] = r
    return [r.event for r in best.values() if r.event.event_date < watermark]


def expected_tables(events: list[SaleEvent]) -> dict[str, set[tuple]]:
    genre_of = get_catalogue().genre_of()
    groups: dict[str, dict[tuple, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0, 0, 0]))
    for e in events:
        rev = revenue_cents(e.quantity, e.unit_price_cents, e.discount_bp, e.event_type)
        vals = (
            rev,
            int(counts_as_order(e.line_no, e.event_type)),
            signed_units(e.quantity, e.event_type),
            1,
            int(e.event_type == "refund"),
        )
        day, month = e.event_date, e.event_date.replace(day=1)
        book, customer = member(e.product_id), member(e.customer_id)
        keys = {
            "agg_daily_sales": (day,),
            "agg_monthly_sales": (month,),
            "agg_daily_region": (day, member(e.region)),
            "agg_daily_genre": (day, genre_of.get(book, "unknown")),
            "agg_daily_channel": (day, member(e.channel)),
            "agg_daily_book": (day, book),
            "agg_monthly_book": (month, book),
            "agg_daily_customer": (day, customer),
            "agg_monthly_customer": (month, customer),
        }
        for name, key in keys.items():
            acc = groups[name][key]
            for i, v in enumerate(vals):
                acc[i] += v
    index = {"revenue_cents": 0, "orders": 1, "units": 2, "events": 3, "refunds": 4}
    out = {}
    for t in ddl.AGGS:
        out[t.name] = {key + tuple(acc[index[m]] for m in t.measures) for key, acc in groups[t.name].items()}
    out["fct_sales"] = {
        (
            e.event_id,
            int(e.event_date.strftime("%Y%m%d")),
            member(e.product_id),
            member(e.customer_id),
            member(e.region),
            member(e.channel),
            signed_units(e.quantity, e.event_type),
            revenue_cents(e.quantity, e.unit_price_cents, e.discount_bp, e.event_type),
            counts_as_order(e.line_no, e.event_type),
        )
        for e in events
    }
    return out


FACT_SQL = """
SELECT f.event_id, f.date_key, b.book_id, c.customer_id, r.region_code, ch.channel_code, f.units,
       f.revenue_cents, f.is_order
FROM {s}.fct_sales f
JOIN {s}.dim_book b ON b.book_key = f.book_key
JOIN {s}.dim_customer c ON c.customer_key = f.customer_key
JOIN {s}.dim_region r ON r.region_key = f.region_key
JOIN {s}.dim_channel ch ON ch.channel_key = f.channel_key
JOIN {s}.dim_date d ON d.date_key = f.date_key
"""


def warehouse_tables(cur, schema: str) -> dict[str, set[tuple]]:  # type: ignore[no-untyped-def]
    out = {}
    for t in ddl.AGGS:
        cur.execute(f"SELECT {', '.join(t.column_names)} FROM {schema}.{t.name}")
        out[t.name] = set(cur.fetchall())
    cur.execute(FACT_SQL.format(s=schema))
    out["fct_sales"] = set(cur.fetchall())
    return out


def checksums(cur, schema: str) -> dict[str, tuple[int, str]]:  # type: ignore[no-untyped-def]
    """Row count and md5 of the sorted rows of every published table."""
    out = {}
    for t in ddl.CURATED:
        cur.execute(
            f"SELECT COUNT(*), md5(string_agg(x::text, '|' ORDER BY x::text)) FROM {schema}.{t.name} x"
        )
        out[t.name] = cur.fetchone()
    return out


def assert_matches(cur, schema: str, events: list[SaleEvent]) -> None:  # type: ignore[no-untyped-def]
    expected = expected_tables(events)
    got = warehouse_tables(cur, schema)
    for name, rows in expected.items():
        assert got[name] == rows, (
            f"{name}: {len(got[name] - rows)} unexpected, {len(rows - got[name])} missing"
        )
    assert len(got["fct_sales"]) == len(events)


@pytest.fixture(scope="module")
def spark():  # type: ignore[no-untyped-def]
    from salespulse.batch.session import local_session

    return local_session(master="local[2]", shuffle_partitions=2, app="salespulse-tests")


def run_full(spark, watermark: date):  # type: ignore[no-untyped-def]
    return pipeline.run(pipeline.Options(mode="full", watermark=watermark), get_settings(), lambda: spark)


@pytest.fixture
def own_warehouse(stack, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """This test's own schema, lake and Redis prefix: it checks whole tables and every raw file,
    so nothing another test publishes into the session's `warehouse` may be there."""
    env = {
        "SALESPULSE_PG_SCHEMA": f"batchtest_{stack.run_id}",
        "SALESPULSE_DATA_DIR": str(tmp_path / "data"),
        "SALESPULSE_REDIS_PREFIX": f"t{stack.run_id}b",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield dict(stack.env, **env)
    get_settings.cache_clear()


def test_lake_to_warehouse_kill_rerun_and_incremental(stack, spark, own_warehouse) -> None:  # type: ignore[no-untyped-def]
    settings = get_settings()
    names = Names.from_settings(settings)
    schema = settings.pg_schema
    lake = Lake(names)
    gen = Events(seed=11)
    t0 = 1_770_000_000_000  # ingestion times (ms), increasing per file

    # Generator history before W0, and one day at W0 (beyond the first watermark).
    lake.write(gen.days(FIRST, W0 - timedelta(days=1), 80), "generator", "gen-11-0.parquet", t0)
    # Stream: a batch, then the same batch replayed under another file name (same event ids).
    stream = gen.days(W0 - timedelta(days=3), W0, 30)
    lake.write(stream, "stream", "sales.events-p0-o0-119.parquet", t0 + 1)
    lake.write(stream[:40], "stream", "sales.events-p1-o0-39.parquet", t0 + 2)
    # CSV export with unknown ids, then a corrected re-export: new quantities, one line moved to another day.
    csv1 = [
        gen.one(FIRST + timedelta(days=i % 10), product_id=p, customer_id=c)
        for i, (p, c) in enumerate([("ZZ-999", "walk-in"), ("", "CU0000001"), ("BK0000001", "")] * 10)
    ]
    lake.write(csv1, "csv", "csv-sales_data_2026-01-30-aaaaaaaa.parquet", t0 + 3)
    corrected = [_replace(e, quantity=e.quantity + 10) for e in csv1[:5]]
    corrected.append(_replace(csv1[5], event_time_ms=csv1[5].event_time_ms + 2 * 86_400_000))
    lake.write(corrected, "csv", "csv-sales_data_2026-01-31-bbbbbbbb.parquet", t0 + 4)

    # 1. Full rebuild, equal to the independent computation.
    result = run_full(spark, W0)
    assert result.status == "published"
    conn = psycopg2.connect(stack.database_url)
    conn.autocommit = True
    cur = conn.cursor()
    expected_events = deduped(lake.rows, W0)
    assert_matches(cur, schema, expected_events)
    cur.execute(
        f"SELECT COUNT(*) FROM {schema}.dim_book WHERE book_id IN ('ZZ-999', 'unknown') AND genre = 'unknown'"
    )
    assert cur.fetchone() == (2,)
    cur.execute(
        "SELECT mode, status, rows_raw, rows_deduped, rows_fact, revenue_cents, watermark, steps "
        "FROM warehouse_meta.batch_runs WHERE run_id = %s",
        (result.run_id,),
    )
    mode, status, rows_raw, rows_deduped, rows_fact, revenue, watermark, steps = cur.fetchone()
    assert (mode, status, watermark) == ("full", "published", W0)
    assert rows_raw == sum(1 for r in lake.rows if r.event.event_date < W0)
    assert rows_deduped == rows_fact == len(expected_events)
    assert revenue == sum(e.revenue_cents for e in expected_events)
    assert {"build", "load", "check", "index", "publish"} <= set(json.loads(steps))
    r = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    assert r.get(names.key("watermark")) == W0.isoformat()
    assert r.get(names.key("batch", "latest")) == result.run_id
    before = checksums(cur, schema)

    # 2. spark-submit killed after loading staging: nothing published changes; a rerun is identical.
    env = dict(own_warehouse, **{pipeline.KILL_AFTER_ENV: "load"})
    cmd = [
        sys.executable,
        "-m",
        "salespulse.cli",
        "batch",
        "--mode",
        "full",
        "--watermark",
        W0.isoformat(),
        "--master",
        "local[1]",
        "--shuffle-partitions",
        "2",
        "--driver-memory",
        "1g",
    ]
    killed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode != 0, killed.stderr[-2000:]
    # spark-submit forwards the Python driver's output (our log) to its stdout
    assert "killing this process now" in killed.stdout
    cur.execute(f"SELECT run_id FROM {schema}_staging.batch_info")
    (killed_run,) = cur.fetchone()
    assert checksums(cur, schema) == before
    rerun = run_full(spark, W0)
    assert checksums(cur, schema) == before
    cur.execute("SELECT status, error FROM warehouse_meta.batch_runs WHERE run_id = %s", (killed_run,))
    status, error = cur.fetchone()
    assert status == "failed" and error == f"superseded by run {rerun.run_id}"
    assert rerun.run_id != killed_run

    # 3. One more day of events and a correction of an already published day: incremental == full.
    lake.write(gen.days(W0, W0, 60), "generator", "gen-12-0.parquet", t0 + 5)
    moved = _replace(csv1[7], event_time_ms=csv1[7].event_time_ms + 86_400_000, quantity=9)
    lake.write([moved], "csv", "csv-sales_data_2026-02-16-cccccccc.parquet", t0 + 6)
    incremental = pipeline.run(
        pipeline.Options(mode="incremental", watermark=W1), get_settings(), lambda: spark
    )
    assert incremental.mode == "incremental"
    cur.execute(
        "SELECT range_from, range_to FROM warehouse_meta.batch_runs WHERE run_id = %s", (incremental.run_id,)
    )
    # the moved line pulls in its old day, where csv1[5] (moved from FIRST+5 earlier) also lives
    assert cur.fetchone() == (FIRST + timedelta(days=5), W0)
    assert_matches(cur, schema, deduped(lake.rows, W1))
    after_incremental = checksums(cur, schema)

    # 4. The same full rebuild as the DAG runs it, every task retried once: equal to the incremental.
    staged = pipeline.run(
        pipeline.Options(mode="full", watermark=W1, steps=("build", "load")), get_settings(), lambda: spark
    )
    assert staged.status == "loaded"
    assert publish_cli(check_only=True) == (0, f"{staged.run_id} checked watermark={W1}")
    assert publish_cli(check_only=True) == (0, f"{staged.run_id} checked watermark={W1}")  # re-check
    assert run_status(cur, staged.run_id) == "checked"
    assert checksums(cur, schema) == after_incremental  # nothing published yet
    assert publish_cli() == (0, f"{staged.run_id} published watermark={W1}")
    published_steps = run_steps(cur, staged.run_id)
    assert checksums(cur, schema) == after_incremental
    assert publish_cli() == (0, f"{staged.run_id} published watermark={W1}")  # no-op
    assert run_status(cur, staged.run_id) == "published"
    assert run_steps(cur, staged.run_id) == published_steps
    assert checksums(cur, schema) == after_incremental
    with pytest.raises(pipeline.BatchError, match="already published"):
        pipeline.run(pipeline.Options(steps=("check",)), get_settings())
    cur.execute(f"SELECT COUNT(*) FROM pg_indexes WHERE schemaname = '{schema}'")
    assert cur.fetchone()[0] == sum(len(v) for v in ddl.INDEXES.values())
    conn.close()
    r.close()
    assert not Path(
        os.environ["SALESPULSE_DATA_DIR"], "lake", "curated", "warehouse", f"run={killed_run}"
    ).exists()


def publish_cli(*, check_only: bool = False) -> tuple[int, str]:
    """``salespulse publish [--check-only]`` in this process: exit code and printed line."""
    import argparse
    import contextlib
    import io

    from salespulse.commands import publish

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = publish.run(argparse.Namespace(run_id=None, check_only=check_only))
    return code, out.getvalue().strip()


def run_status(cur, run_id: str) -> str:  # type: ignore[no-untyped-def]
    cur.execute("SELECT status FROM warehouse_meta.batch_runs WHERE run_id = %s", (run_id,))
    return cur.fetchone()[0]


def run_steps(cur, run_id: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    cur.execute("SELECT steps FROM warehouse_meta.batch_runs WHERE run_id = %s", (run_id,))
    return json.loads(cur.fetchone()[0])


def _replace(e: SaleEvent, **changes: object) -> SaleEvent:
    from dataclasses import replace

    return replace(e, **changes)  # type: ignore[arg-type]
