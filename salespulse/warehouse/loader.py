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
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as pads
from psycopg2 import errors

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


def prebuild_indexes(conn, schema: str, table: ddl.Table) -> None:  # type: ignore[no-untyped-def]
    """Build ``table``'s PostgreSQL indexes and statistics right after its load, while Spark still works.

    The quality gate and the index step create the same indexes ``IF NOT
    EXISTS``, so they find them built.  A unique index a duplicate key
    prevents is left unbuilt: the gate tries again and reports the duplicate.
    """
    wanted = list(ddl.INDEXES.get(table.name, ()))
    wanted += [cols for name, cols in sorted(ddl.UNIQUE_INDEXES) if name == table.name and cols not in wanted]
    with conn.cursor() as cur:
        cur.execute("SET maintenance_work_mem = '256MB'")
        for columns in wanted:
            try:
                cur.execute(ddl.index_sql(schema, table.name, columns))
                conn.commit()
            except errors.UniqueViolation:
                conn.rollback()
                cur.execute("SET maintenance_work_mem = '256MB'")
        cur.execute(f"ANALYZE {schema}.{table.name}")
    conn.commit()


class Loader:
    """COPYs curated tables into ``staging`` as they are handed over, ``workers`` at a time.

    The batch job hands each table over as soon as Spark has written it, so
    the big fact streams into PostgreSQL while Spark is still computing the
    aggregates (a separate process on the other core) instead of after it.
    """

    def __init__(self, settings: Settings, staging: str, *, workers: int = 2, indexes: bool = False):
        self.settings = settings
        self.staging = staging
        self.indexes = indexes
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="copy")
        self.futures: dict[str, Future[int]] = {}
        self._times: list[float] = []  # start and end of every load (monotonic)

    def submit(self, name: str, parquet_dir: str | Path) -> None:
        """Start loading table ``name`` from its finished Parquet folder (once per table)."""
        if name not in self.futures:
            self.futures[name] = self.pool.submit(self._one, ddl.BY_NAME[name], Path(parquet_dir))

    def _one(self, table: ddl.Table, parquet_dir: Path) -> int:
        started = time.monotonic()
        self._times.append(started)
        with db.connected(self.settings) as conn:
            rows = copy_parquet(conn, self.staging, table, parquet_dir)
            took = time.monotonic() - started
            log.info(
                "load: %-22s %10d rows %6.1fs (%.0f rows/s)", table.name, rows, took, rows / max(took, 1e-6)
            )
            if self.indexes and not db.is_redshift(conn):
                started = time.monotonic()
                prebuild_indexes(conn, self.staging, table)
                log.info("load: %-22s indexed in %.1fs", table.name, time.monotonic() - started)
        self._times.append(time.monotonic())
        return rows

    @property
    def span(self) -> float:
        """Seconds from the first load's start to the last one's end (partly during the build)."""
        return max(self._times) - min(self._times) if self._times else 0.0

    def finish(self, curated: dict[str, str]) -> dict[str, int]:
        """Load what was not handed over yet (biggest first), wait for all; rows per table."""
        for table in ddl.CURATED:
            if table.name in curated:
                self.submit(table.name, curated[table.name])
        try:
            return {name: future.result() for name, future in self.futures.items()}
        finally:
            self.close()

    def close(self) -> None:
        """Cancel what has not started, wait for what has (a failed run's staging is never published)."""
        self.pool.shutdown(wait=True, cancel_futures=True)


def load_all(
    settings: Settings, staging: str, curated: dict[str, str], *, workers: int = 2
) -> dict[str, int]:
    """COPY every curated table into ``staging`` (``workers`` tables at a time); rows per table."""
    return Loader(settings, staging, workers=workers).finish(curated)
