"""The Spark part of a run: raw files -> curated Parquet tables + a manifest.

Reads exactly the files the plan lists, dedups, enriches, and writes one
Parquet folder per warehouse table under
``curated/warehouse/run=<run_id>/<table>/``.  The manifest next to them
carries the raw-side figures the quality gate reconciles against.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

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


def _write(df: DataFrame, path: Path, partitions: int | None = None) -> None:
    if partitions:
        df = df.coalesce(partitions)
    df.write.mode("overwrite").parquet(str(path))


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


#: Columns of the curated fact the aggregates and dimensions need (cached once, read by all of them).
AGG_INPUT = (
    "date",
    "book_id",
    "customer_id",
    "region_code",
    "channel_code",
    "genre",
    "revenue_cents",
    "units",
    "is_order",
    "is_refund",
    "book_key",
    "customer_key",
    "region_key",
    "channel_key",
)


def raw_rows(paths: list[str]) -> int:
    """Rows in these raw files, from their Parquet footers (no Spark job, no data read).

    Exact, and independent of Spark's reading: the gate's first reconciliation figure.
    """
    if not paths:
        return 0
    return int(pads.dataset(paths, format="parquet").count_rows())


def build(
    spark: SparkSession, plan: Plan, catalogue: Catalogue, run_dir: Path, manifest: Manifest
) -> Manifest:
    """Run the transforms for ``plan`` and write every curated table; returns the filled manifest.

    Spark actions are the cost on two cores, so there are few: one job writes
    the fact (dedup, joins), the narrow columns of the written fact are cached
    once and every aggregate, the run totals and the ad-hoc dimension members
    come from that cache.  The raw row count comes from the files' footers.
    """
    started = time.monotonic()
    catalogue_files = write_catalogue_dims(catalogue, run_dir)
    cat = {name: spark.read.parquet(str(path)) for name, path in catalogue_files.items()}
    paths = [f.path for f in plan.files]
    manifest.rows_raw = raw_rows(paths)
    raw = read_raw(spark, paths)
    log.info("build: %d raw rows in %d files (%.1fs)", manifest.rows_raw, len(plan.files), _since(started))

    events = transforms.published_days(transforms.dedup_events(raw), plan.watermark, plan.dates)
    fact = transforms.enrich(
        events, cat["dim_book"], cat["dim_customer"], cat["dim_region"], cat["dim_channel"]
    )
    fact_path = run_dir / ddl.FCT_SALES.name
    _write(fact, fact_path)
    manifest.tables[ddl.FCT_SALES.name] = str(fact_path)
    log.info("build: fact written (%.1fs)", _since(started))

    narrow = spark.read.parquet(str(fact_path)).select(*AGG_INPUT, "raw_revenue_cents").cache()
    sums = narrow.agg(F.count(F.lit(1)).alias("rows"), F.sum("raw_revenue_cents").alias("rev")).first()
    assert sums is not None
    manifest.rows_deduped = int(sums["rows"])
    manifest.raw_revenue_cents = int(sums["rev"] or 0)

    sliced = aggregates.slices(narrow).cache()
    daily_paths: dict[str, Path] = {}
    for table in ddl.DAILY_AGGS:
        path = run_dir / table.name
        if aggregates.by_slices(table):
            _write(aggregates.from_slices(sliced, table), path, 1)
        else:
            _write(aggregates.daily(narrow, table), path)
        daily_paths[table.name] = path
        manifest.tables[table.name] = str(path)
    sliced.unpersist()
    for table in ddl.MONTHLY_AGGS:
        assert table.monthly_from is not None
        path = run_dir / table.name
        _write(aggregates.monthly(spark.read.parquet(str(daily_paths[table.monthly_from])), table), path)
        manifest.tables[table.name] = str(path)
    log.info("build: aggregates written (%.1fs)", _since(started))

    adhoc_rows = (
        narrow.filter(
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
        manifest.tables[table.name] = str(path)
    adhoc_rows.unpersist()
    days = narrow.select("date").distinct()
    calendar = dims.dim_date(spark, days)
    if not plan.is_full:  # the published calendar already has 2000..2049
        calendar = calendar.filter(
            (F.col("date") < F.lit(dims.CALENDAR_FIRST)) | (F.col("date") > F.lit(dims.CALENDAR_LAST))
        )
    path = run_dir / ddl.DIM_DATE.name
    _write(calendar.select(*ddl.DIM_DATE.column_names), path, 1)
    narrow.unpersist()
    manifest.tables[ddl.DIM_DATE.name] = str(path)
    log.info("build: dimensions written (%.1fs)", _since(started))
    manifest.save(run_dir)
    return manifest


def _since(t0: float) -> float:
    return time.monotonic() - t0
