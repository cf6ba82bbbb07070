"""The lake's table catalogue (the Glue role): discover tables from folders, register Spark views.

A crawler that never guesses: a table is a folder of Parquet files, its partitions are the
Hive-style ``key=value`` folders below it, and its schema is what Spark reads from the files.

* raw zone: each dataset folder under ``raw/`` is ``raw_<folder>`` (``raw_sales`` =
  ``raw/sales``, partitioned by ``source`` and ``event_date``);
* curated zone: each folder under ``curated/`` that holds Parquet is a table of that name;
* reference data (``books``, ``customers``, ``regions``, ``channels``) comes from
  :mod:`salespulse.reference`, exactly as every other component builds it.

Discovery (:func:`discover_tables`) only reads the file system and is pure given a folder, so
the listing is testable without Spark; :func:`register_views` turns it into temp views.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from salespulse.lake import RAW_SALES_SCHEMA
from salespulse.names import CURATED_ZONE, RAW_ZONE, Names
from salespulse.settings import Settings, get_settings

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

RAW = "raw"
CURATED = "curated"
REFERENCE = "reference"
REFERENCE_TABLES = ("books", "customers", "regions", "channels")
#: Datasets of the raw zone whose schema is known even before the first file lands.
KNOWN_RAW_SCHEMAS: dict[str, pa.Schema] = {"raw_sales": RAW_SALES_SCHEMA}
_PARTITION = re.compile(r"^([^=]+)=(.*)$")


@dataclass(frozen=True, slots=True)
class PartitionColumn:
    """One partition column of a table: how many values, and the range they span."""

    name: str
    distinct: int
    min: str
    max: str


@dataclass(frozen=True, slots=True)
class LakeTable:
    """One table of the catalogue.  ``partitions`` are the leaf folders holding data."""

    name: str
    zone: str
    path: Path | None
    partition_columns: tuple[str, ...] = ()
    partitions: tuple[tuple[tuple[str, str], ...], ...] = ()
    files: int = 0
    bytes: int = 0
    columns: tuple[tuple[str, str], ...] = field(default=())  # (name, Spark type), once registered

    def partition_summary(self) -> list[PartitionColumn]:
        """Distinct count and min/max (as text; ISO dates sort correctly) of each partition column."""
        out = []
        for i, name in enumerate(self.partition_columns):
            values = sorted({p[i][1] for p in self.partitions if len(p) > i})
            if values:
                out.append(PartitionColumn(name, len(values), values[0], values[-1]))
        return out


def table_name(text: str) -> str:
    """A folder name as a SQL identifier (anything else becomes ``_``)."""
    name = re.sub(r"[^0-9A-Za-z_]", "_", text).lower()
    return f"t_{name}" if name[:1].isdigit() else name


def _data_files(root: Path) -> list[Path]:
    """Committed Parquet files (Spark, like our writers, treats ``.``/``_`` names as hidden)."""
    return sorted(
        p
        for p in root.rglob("*.parquet")
        if not any(part.startswith((".", "_")) for part in p.relative_to(root).parts)
    )


def scan_table(name: str, zone: str, root: Path) -> LakeTable | None:
    """The table at ``root``, or ``None`` when it holds no Parquet file."""
    files = _data_files(root)
    if not files:
        return None
    partitions: set[tuple[tuple[str, str], ...]] = set()
    columns: tuple[str, ...] | None = None
    for f in files:
        parts = f.parent.relative_to(root).parts
        pairs = tuple(m.groups() for m in map(_PARTITION.match, parts) if m)
        if len(pairs) != len(parts):
            continue  # a folder that is not key=value: not part of the partition layout
        keys = tuple(k for k, _ in pairs)
        if columns is None or len(keys) > len(columns):
            columns = keys
        partitions.add(pairs)  # type: ignore[arg-type]
    return LakeTable(
        name=name,
        zone=zone,
        path=root,
        partition_columns=columns or (),
        partitions=tuple(sorted(p for p in partitions if p)),
        files=len(files),
        bytes=sum(f.stat().st_size for f in files),
    )


def _subfolders(path: Path) -> list[Path]:
    if not path.is_dir():
        return []
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def discover_tables(settings: Settings | None = None) -> list[LakeTable]:
    """Every lake table (raw, then curated, then reference), by reading folders only."""
    names = Names.from_settings(settings or get_settings())
    found: dict[str, LakeTable] = {}
    for folder in _subfolders(names.zone(RAW_ZONE)):
        name = table_name(f"raw_{folder.name}")
        table = scan_table(name, RAW, folder)
        if table is not None:
            found[name] = table
    for name in KNOWN_RAW_SCHEMAS:
        found.setdefault(name, LakeTable(name, RAW, None))  # empty until the first file lands
    for folder in _subfolders(names.zone(CURATED_ZONE)):
        name = table_name(folder.name)
        table = scan_table(name, CURATED, folder)
        if table is not None and name not in found:
            found[name] = table
    for name in REFERENCE_TABLES:
        found.setdefault(name, LakeTable(name, REFERENCE, None))
    return list(found.values())


def reference_tables(settings: Settings | None = None) -> dict[str, pa.Table]:
    """The reference data of the configured seed, as Arrow tables."""
    from salespulse.reference import channels_table, get_catalogue, regions_table

    catalogue = get_catalogue(settings or get_settings())
    return {
        "books": catalogue.books_table(),
        "customers": catalogue.customers_table(),
        "regions": regions_table(),
        "channels": channels_table(),
    }


def _frame(spark: SparkSession, table: LakeTable, reference: dict[str, pa.Table]) -> DataFrame:
    if table.zone == REFERENCE:
        return spark.createDataFrame(reference[table.name])
    if table.path is None:
        return spark.createDataFrame(KNOWN_RAW_SCHEMAS[table.name].empty_table())
    # Partition folders supply the partition columns (typed by Spark's inference: dates,
    # integers, strings); basePath keeps them when the table root is read.
    return spark.read.option("basePath", str(table.path)).parquet(str(table.path))


def register_views(
    spark: SparkSession, tables: Sequence[LakeTable], settings: Settings | None = None
) -> list[LakeTable]:
    """Register each table as a temp view; returns the tables with their Spark schemas filled in."""
    needs_reference = any(t.zone == REFERENCE for t in tables)
    reference = reference_tables(settings) if needs_reference else {}
    registered = []
    for table in tables:
        frame = _frame(spark, table, reference)
        frame.createOrReplaceTempView(table.name)
        columns = tuple((f.name, f.dataType.simpleString()) for f in frame.schema.fields)
        registered.append(
            LakeTable(
                table.name,
                table.zone,
                table.path,
                table.partition_columns,
                table.partitions,
                table.files,
                table.bytes,
                columns,
            )
        )
    return registered


def describe(tables: Iterable[LakeTable], *, schemas: bool = True) -> list[str]:
    """Human-readable catalogue lines: table, zone, files, partitions (count and ranges), schema."""
    lines: list[str] = []
    for t in tables:
        where = (
            str(t.path) if t.path else ("generated from the seed" if t.zone == REFERENCE else "no files yet")
        )
        size = f", {t.files} files, {t.bytes:,} bytes" if t.files else ""
        lines.append(f"{t.name}  [{t.zone}] {where}{size}")
        if t.partition_columns:
            lines.append(f"  partitions: {len(t.partitions)} by ({', '.join(t.partition_columns)})")
            for col in t.partition_summary():
                span = col.min if col.min == col.max else f"{col.min} .. {col.max}"
                lines.append(
                    f"    {col.name}: {col.distinct} value{'s' if col.distinct != 1 else ''}, {span}"
                )
        if schemas and t.columns:
            marks = set(t.partition_columns)
            for name, dtype in t.columns:
                flag = "  (partition)" if name in marks else ""
                lines.append(f"    {name:<20} {dtype}{flag}")
    return lines
