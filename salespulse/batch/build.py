"""The Spark part of a run: raw files -> curated Parquet tables + a manifest.

Reads exactly the files the plan lists, dedups, enriches, and writes one
Parquet folder per warehouse table under
``curated/warehouse/run=<run_id>/<table>/``.  The manifest next to them
carries the raw-side figures the quality gate reconciles against.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from salespulse.batch import aggregates, dims, transforms
from salespulse.batch.plan import Plan
from salespulse.reference import Catalogue
from salespulse.warehouse import ddl

log = logging.getLogger(__name__)

#: Columns of the curated fact beyond the loaded ones: the aggregates group by them,
#: and ``raw_revenue_cents`` (the writer's figure) is reconciled against the recomputed one.
FACT_EXTRA = (
    "date",
    "book_id",
    "customer_id",
    "region_code",
    "channel_code",
    "genre",
    "is_refund",
    "raw_revenue_cents",
)


@dataclass
class Manifest:
    """What a build produced; JSON next to the curated tables, read by load/check/publish."""

    run_id: str
    mode: str
    watermark: str
    catalogue: str
    dates: list[str] | None
    range_from: str | None
    range_to: str | None
    files: list[list[Any]]  # [path, event_date, size_bytes, mtime_ns]
    rows_raw: int = 0
    rows_deduped: int = 0
    raw_revenue_cents: int = 0
    tables: dict[str, str] = field(default_factory=dict)

    def save(self, run_dir: Path) -> Path:
        path = run_dir / "manifest.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, run_dir: Path) -> Manifest:
        return cls(**json.loads((run_dir / "manifest.json").read_text()))

    @property
    def watermark_date(self) -> date:
        return date.fromisoformat(self.watermark)

    @property
    def is_full(self) -> bool:
        return self.dates is None


def read_raw(spark: SparkSession, paths: list[str]) -> DataFrame:
    """The raw rows of exactly these files (no partition discovery: the columns are in the files)."""
    if not paths:
        from salespulse.lake import RAW_SALES_SCHEMA

        return spark.createDataFrame(RAW_SALES_SCHEMA.empty_table())
    return spark.read.option("recursiveFileLookup", "true").parquet(*paths)


#: No Parquet dictionary for the fact's near-unique columns: building one per page and
#: throwing it away when it overflows is most of the cost of writing them.
FACT_WRITE_OPTIONS = {
    f"parquet.enable.dictionary#{column}": "false" for column in ("event_id", "order_id", "event_time")
}


def _write(
    df: DataFrame, path: Path, partitions: int | None = None, options: dict[str, str] | None = None
) -> None:
    if partitions:
        df = df.coalesce(partitions)
    df.write.mode("overwrite").options(**(options or {})).parquet(str(path))


#: More repeated hashes than this and the dedup shuffles every row (listing their files would cost more).
MAX_SUSPECTS = 50_000
#: Below this many raw rows (an incremental day) shuffling them all is cheaper than a probe job first.
PROBE_MIN_ROWS = 1_000_000


BYPASS_PARTIAL = "spark.sql.execution.bypassPartialAggregation"


@contextmanager
def no_partial_aggregation(spark: SparkSession) -> Iterator[None]:
    """Group without the pre-shuffle partial aggregation, for keys that barely repeat
    (event hashes, a book or customer on a day): hashing every row twice would buy nothing."""
    previous = spark.conf.get(BYPASS_PARTIAL, "false")
    spark.conf.set(BYPASS_PARTIAL, "true")
    try:
        yield
    finally:
        spark.conf.set(BYPASS_PARTIAL, previous or "false")


def _local_path(uri: str) -> str:
    """``file:/a/b%20c`` (Spark's ``_metadata.file_path``) -> ``/a/b c``."""
    parsed = urlparse(uri)
    return os.path.abspath(unquote(parsed.path if parsed.scheme else uri))


def deduped_raw(spark: SparkSession, paths: list[str], rows: int | None = None) -> tuple[DataFrame, str]:
    """The raw rows of ``paths``, one per ``event_id``, and the route taken.

    Dedup needs every copy of an id side by side, i.e. a shuffle of whole raw
    rows, the dearest step of a full rebuild.  It is only done where it can
    change something: one narrow pass finds the event hashes that repeat
    (:func:`transforms.repeated_hashes`); ``unique`` when there are none (the
    rows are already deduped), ``files`` when there are a few (only the files
    holding a suspect row are deduped, the others cannot hold a copy of their
    ids), ``all`` otherwise (or straight away for fewer than :data:`PROBE_MIN_ROWS`
    ``rows``).  Every route gives the rows :func:`transforms.dedup_events` gives
    on all of them.
    """
    raw = read_raw(spark, paths)
    if not paths:
        return raw, "unique"
    if rows is not None and rows < PROBE_MIN_ROWS:
        return transforms.dedup_events(raw), "all"
    with no_partial_aggregation(spark):
        suspects = [row[0] for row in transforms.repeated_hashes(raw).limit(MAX_SUSPECTS + 1).collect()]
    if not suspects:
        return raw, "unique"
    if len(suspects) > MAX_SUSPECTS:
        return transforms.dedup_events(raw), "all"
    holding = (
        raw.filter(transforms.event_hash(F.col("event_id")).isin(suspects))
        .select(F.col("_metadata.file_path"))
        .distinct()
        .collect()
    )
    dirty = {_local_path(row[0]) for row in holding}
    by_path = {os.path.abspath(p): p for p in paths}
    if not dirty <= by_path.keys():  # a path Spark spells differently: take the safe route
        log.warning("build: %d suspect files not matched to the plan; deduping every row", len(dirty))
        return transforms.dedup_events(raw), "all"
    clean = [p for key, p in by_path.items() if key not in dirty]
    suspect = read_raw(spark, [by_path[key] for key in sorted(dirty)])
    if not clean:
        return transforms.dedup_events(suspect), "files"
    return transforms.dedup_suspects(read_raw(spark, clean), suspect), "files"


def write_catalogue_dims(catalogue: Catalogue, run_dir: Path) -> dict[str, Path]:
    """The catalogue part of each dimension as Parquet, written by Arrow (no Spark task ships
    500K rows); the Spark job reads them for its joins, the loader loads them as they are."""
    tables = {
        "dim_book": dims.book_table(catalogue),
        "dim_customer": dims.customer_table(catalogue),
        "dim_region": dims.region_table(),
        "dim_channel": dims.channel_table(),
    }
    out = {}
    for name, table in tables.items():
        path = run_dir / "catalogue" / name / "catalogue.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.cast(_schema_for(ddl.BY_NAME[name], table.schema)), path)
        out[name] = path
    return out


def _schema_for(table: ddl.Table, schema: pa.Schema) -> pa.Schema:
    return pa.schema([schema.field(c) for c in table.column_names])


def raw_rows(paths: list[str]) -> int:
    """Rows in these raw files, from their Parquet footers (no Spark job, no data read).

    Exact, and independent of Spark's reading: the gate's first reconciliation figure.
    """
    if not paths:
        return 0
    return int(pads.dataset(paths, format="parquet").count_rows())


def build(
    spark: SparkSession,
    plan: Plan,
    catalogue: Catalogue,
    run_dir: Path,
    manifest: Manifest,
    on_written: Callable[[str, Path], None] | None = None,
) -> Manifest:
    """Run the transforms for ``plan`` and write every curated table; returns the filled manifest.

    Spark work is the cost on two cores, so there is little: a narrow pass
    proves the event ids unique (or finds the few files to dedup, see
    :func:`deduped_raw`), one job writes the fact (joins to broadcast
    dimensions), then each aggregate reads only its columns of the written
    fact; one small slice table gives the four small daily aggregates, the
    calendar's days and the run totals.  The raw row count comes from the
    files' footers.  ``on_written(table, folder)`` is called as soon as a
    table's folder is complete (the run loads it while Spark goes on).
    """
    started = time.monotonic()

    def written(table: ddl.Table, path: Path) -> None:
        manifest.tables[table.name] = str(path)
        if on_written is not None:
            on_written(table.name, path)

    catalogue_files = write_catalogue_dims(catalogue, run_dir)
    cat = {name: spark.read.parquet(str(path)) for name, path in catalogue_files.items()}
    paths = [f.path for f in plan.files]
    manifest.rows_raw = raw_rows(paths)
    log.info("build: %d raw rows in %d files (%.1fs)", manifest.rows_raw, len(plan.files), _since(started))

    deduped, route = deduped_raw(spark, paths, manifest.rows_raw)
    log.info("build: dedup route %r (%.1fs)", route, _since(started))
    events = transforms.published_days(deduped, plan.watermark, plan.dates)
    fact = transforms.enrich(
        events, cat["dim_book"], cat["dim_customer"], cat["dim_region"], cat["dim_channel"]
    )
    fact_path = run_dir / ddl.FCT_SALES.name
    _write(fact, fact_path, options=FACT_WRITE_OPTIONS)
    written(ddl.FCT_SALES, fact_path)
    log.info("build: fact written (%.1fs)", _since(started))

    # Every later job reads only the columns it needs from the written fact (Parquet is
    # columnar: cheaper than caching the rows); the slices are tiny and cached.
    curated = spark.read.parquet(str(fact_path))
    sliced = aggregates.slices(curated).cache()
    sums = sliced.agg(F.sum("events").alias("rows"), F.sum("raw_revenue_cents").alias("rev")).first()
    assert sums is not None
    manifest.rows_deduped = int(sums["rows"] or 0)
    manifest.raw_revenue_cents = int(sums["rev"] or 0)

    daily_paths: dict[str, Path] = {}
    for table in ddl.DAILY_AGGS:
        path = run_dir / table.name
        if aggregates.by_slices(table):
            _write(aggregates.from_slices(sliced, table), path, 1)
        else:
            with no_partial_aggregation(spark):
                _write(aggregates.daily(curated, table), path)
        daily_paths[table.name] = path
        written(table, path)
    for table in ddl.MONTHLY_AGGS:
        assert table.monthly_from is not None
        path = run_dir / table.name
        monthly = aggregates.monthly(spark.read.parquet(str(daily_paths[table.monthly_from])), table)
        if table.unique == ("month",):
            _write(monthly, path)
        else:
            with no_partial_aggregation(spark):
                _write(monthly, path)
        written(table, path)
    log.info("build: aggregates written (%.1fs)", _since(started))

    adhoc_rows = (
        curated.filter(
            (F.col("book_key") < 0)
            | (F.col("customer_key") < 0)
            | (F.col("region_key") < 0)
            | (F.col("channel_key") < 0)
        )
        .select("book_id", "customer_id", "region_code", "channel_code")
        .cache()
    )
    for table in (ddl.DIM_BOOK, ddl.DIM_CUSTOMER, ddl.DIM_REGION, ddl.DIM_CHANNEL):
        path = run_dir / table.name
        extra = dims.adhoc_members(adhoc_rows, cat[table.name], table).select(*table.column_names)
        _write(extra, path / "adhoc", 1)
        if plan.is_full:
            shutil.copyfile(catalogue_files[table.name], path / "catalogue.parquet")
        written(table, path)
    adhoc_rows.unpersist()
    calendar = dims.dim_date(spark, sliced.select("date"))
    if not plan.is_full:  # the published calendar already has 2000..2049
        calendar = calendar.filter(
            (F.col("date") < F.lit(dims.CALENDAR_FIRST)) | (F.col("date") > F.lit(dims.CALENDAR_LAST))
        )
    path = run_dir / ddl.DIM_DATE.name
    _write(calendar.select(*ddl.DIM_DATE.column_names), path, 1)
    sliced.unpersist()
    written(ddl.DIM_DATE, path)
    log.info("build: dimensions written (%.1fs)", _since(started))
    manifest.save(run_dir)
    return manifest


def _since(t0: float) -> float:
    return time.monotonic() - t0
