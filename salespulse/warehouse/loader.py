"""Bulk load of curated Parquet into the staging schema with COPY (never row by row).

Each table streams Parquet -> CSV (pyarrow's C++ writer, in a thread) through
an OS pipe into ``COPY ... FROM STDIN``, so memory stays flat whatever the
size.  The table is truncated in the same transaction as the COPY, which lets
PostgreSQL use ``FREEZE`` (no later vacuum pass over freshly loaded rows).
On Redshift the same curated Parquet would be loaded with ``COPY ... FORMAT
AS PARQUET`` from S3 instead; the DDL is shared.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as pads

from salespulse.settings import Settings
from salespulse.warehouse import db, ddl

log = logging.getLogger(__name__)

BATCH_ROWS = 256 * 1024
PIPE_BUFFER = 1 << 20


def _naive(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Timestamps as naive UTC (warehouse TIMESTAMP has no zone)."""
    arrays = []
    for col in batch.columns:
        if pa.types.is_timestamp(col.type) and col.type.tz is not None:
            col = col.cast(pa.timestamp(col.type.unit))
        arrays.append(col)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def csv_batches(parquet_dir: Path, columns: Iterable[str]) -> Iterable[pa.RecordBatch]:
    dataset = pads.dataset(str(parquet_dir), format="parquet")  # skips _SUCCESS, .crc
    for batch in dataset.to_batches(columns=list(columns), batch_size=BATCH_ROWS):
        if batch.num_rows:
            yield _naive(batch)


def copy_parquet(conn, schema: str, table: ddl.Table, parquet_dir: Path) -> int:  # type: ignore[no-untyped-def]
    """TRUNCATE + COPY FREEZE one table from a Parquet folder, in one transaction; returns rows."""
    read_fd, write_fd = os.pipe()
    rows = 0
    error: list[BaseException] = []

    def produce() -> None:
        nonlocal rows
        try:
            with os.fdopen(write_fd, "wb", buffering=PIPE_BUFFER) as sink:
                writer = None
                for batch in csv_batches(parquet_dir, table.column_names):
                    if writer is None:
                        options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
                        writer = pacsv.CSVWriter(sink, batch.schema, write_options=options)
                    writer.write_batch(batch)
                    rows += batch.num_rows
                if writer is not None:
                    writer.close()
        except BrokenPipeError:
            pass  # COPY failed and closed the pipe; its error is the one reported
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=produce, name=f"csv-{table.name}", daemon=True)
    cols = ", ".join(table.column_names)
    sql = f"COPY {schema}.{table.name} ({cols}) FROM STDIN WITH (FORMAT csv, FREEZE true)"
    with os.fdopen(read_fd, "rb", buffering=PIPE_BUFFER) as source:
        thread.start()
        try:
            with conn.cursor() as cur:
                cur.execute(f"TRUNCATE {schema}.{table.name}")
                cur.copy_expert(sql, source, size=PIPE_BUFFER)
        except BaseException:
            conn.rollback()
            source.close()
            thread.join()
            raise
    thread.join()
    if error:
        conn.rollback()
        raise error[0]
    conn.commit()
    return rows


def create_staging(settings: Settings, staging: str, tables: Iterable[ddl.Table]) -> None:
    """Drop and recreate the staging schema with empty tables (one transaction)."""
    with db.connected(settings) as conn, conn.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {staging} CASCADE")
        cur.execute(f"CREATE SCHEMA {staging}")
        for table in tables:
            cur.execute(ddl.create_table_sql(table, staging))
        conn.commit()


def load_all(
    settings: Settings, staging: str, curated: dict[str, str], *, workers: int = 2
) -> dict[str, int]:
    """COPY every curated table into ``staging`` (``workers`` tables at a time); rows per table."""
    tables = [t for t in ddl.CURATED if t.name in curated]

    def one(table: ddl.Table) -> tuple[str, int]:
        started = time.monotonic()
        with db.connected(settings) as conn:
            rows = copy_parquet(conn, staging, table, Path(curated[table.name]))
        took = time.monotonic() - started
        log.info("load: %-22s %10d rows %6.1fs (%.0f rows/s)", table.name, rows, took, rows / max(took, 1e-6))
        return table.name, rows

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="copy") as pool:
        return dict(pool.map(one, tables))
