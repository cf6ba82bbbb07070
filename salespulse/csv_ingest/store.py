"""I/O of CSV ingestion: raw-zone files, quarantine, and the reports and line index in PostgreSQL.

Everything here is an adapter around the pure parts: files are written to a
temporary name and renamed (a reader never sees half a file) and a file's
database bookkeeping (its report and the index of loaded line identities) is
one transaction, so a crash anywhere leaves either the old state or the new
one, and a rerun repairs it.  SQL sticks to what Redshift also accepts.
"""

from __future__ import annotations

import csv
import io
import os
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from salespulse.csv_ingest.normalise import Normalised, Rejection
from salespulse.lake import RAW_SALES_SCHEMA, write_by_date
from salespulse.names import CSV_REPORTS_TABLE

META_SCHEMA = "warehouse_meta"
#: Event id -> the file version that last loaded it (to count replacements).
LINE_INDEX_TABLE = "csv_line_index"
SOURCE = "csv"
QUARANTINE_FIELDS = ("source_file", "line_number", "reason")
DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {META_SCHEMA}",
    f"""CREATE TABLE IF NOT EXISTS {META_SCHEMA}.{CSV_REPORTS_TABLE} (
        file_name VARCHAR(1024) NOT NULL,
        file_sha256 CHAR(64) NOT NULL,
        ingested_at TIMESTAMP NOT NULL,
        rows_read BIGINT NOT NULL,
        rows_loaded BIGINT NOT NULL,
        rows_replaced BIGINT NOT NULL,
        rows_rejected BIGINT NOT NULL,
        status VARCHAR(16) NOT NULL,
        reason VARCHAR(4000)
    )""",
    f"""CREATE TABLE IF NOT EXISTS {META_SCHEMA}.{LINE_INDEX_TABLE} (
        event_id CHAR(36) NOT NULL,
        file_name VARCHAR(1024) NOT NULL,
        file_sha256 CHAR(64) NOT NULL,
        ingested_at TIMESTAMP NOT NULL
    )""",
)


def safe_stem(file_name: str) -> str:
    """A file name made safe for a lake file name (``csv-<stem>-<sha8>.parquet``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", Path(file_name).stem) or "file"


def lake_file_name(file_name: str, sha256: str) -> str:
    return f"csv-{safe_stem(file_name)}-{sha256[:8]}.parquet"


def to_table(rows: Normalised, ingested_at_ms: int) -> pa.Table:
    """Accepted rows -> a raw-zone table sorted by event time."""
    cols = rows.columns
    n = len(cols["event_id"])
    times = pa.array(cols["event_time"], pa.int64())
    data: dict[str, Any] = {
        name: cols[name]
        for name in (
            "event_id", "event_type", "order_id", "customer_id", "product_id", "currency", "channel",
            "region", "payment_method", "origin",
        )
    }  # fmt: skip
    data.update(
        event_time=times.cast(pa.timestamp("ms", tz="UTC")),
        event_date=pa.array([t // 86_400_000 for t in cols["event_time"]], pa.int32()).cast(pa.date32()),
        line_no=pa.array(cols["line_no"], pa.int32()),
        quantity=pa.array(cols["quantity"], pa.int32()),
        unit_price_cents=pa.array(cols["unit_price_cents"], pa.int64()),
        discount_bp=pa.array(cols["discount_bp"], pa.int32()),
        revenue_cents=pa.array(cols["revenue_cents"], pa.int64()),
        source=[SOURCE] * n,
        ingested_at=pa.array([ingested_at_ms] * n, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
    )
    table = pa.table({f.name: data[f.name] for f in RAW_SALES_SCHEMA}, schema=RAW_SALES_SCHEMA)
    return table.sort_by([("event_time", "ascending"), ("origin", "ascending")])


def write_lake(
    rows: Normalised, raw_dir: Path, file_name: str, sha256: str, ingested_at_ms: int
) -> list[Path]:
    """One file per event date, named after the source file and its content hash."""
    return write_by_date(to_table(rows, ingested_at_ms), raw_dir, lake_file_name(file_name, sha256))


def _write_text_atomic(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8", newline="")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def quarantine_rows(
    rejected: Sequence[Rejection], header: Sequence[str], file_name: str, quarantine_dir: Path
) -> Path | None:
    """``<file>.rejected.csv``: original columns + source_file, line_number, reason (UTF-8, comma).

    A file with no rejections removes an earlier version's list, which a
    corrected re-delivery has made obsolete.
    """
    path = quarantine_dir / "csv" / f"{file_name}.rejected.csv"
    if not rejected:
        path.unlink(missing_ok=True)
        return None
    width = max([len(header), *(len(r.cells) for r in rejected)])
    columns = [*header, *(f"extra_{i + 1}" for i in range(width - len(header)))]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*columns, *QUARANTINE_FIELDS])
    for r in rejected:
        cells = [*r.cells, *([""] * (width - len(r.cells)))]
        writer.writerow([*cells, file_name, r.line_number, r.reason])
    return _write_text_atomic(path, buffer.getvalue())


def quarantine_file(data: bytes, file_name: str, reason: str, quarantine_dir: Path) -> Path:
    """An unreadable file, kept byte for byte beside ``<file>.reason.txt``."""
    target = quarantine_dir / "files" / file_name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _write_text_atomic(target.with_name(target.name + ".reason.txt"), reason + "\n")
    return target


# -- PostgreSQL ------------------------------------------------------------------


def _ts(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).replace(tzinfo=None)


def _ms(ts: datetime) -> int:
    return int(ts.replace(tzinfo=UTC).timestamp() * 1000)


def ensure_tables(conn: Any) -> None:
    with conn, conn.cursor() as cur:
        for statement in DDL:
            cur.execute(statement)


def earlier_ingested_at_ms(conn: Any, sha256: str) -> int | None:
    """When this exact content was first loaded, if ever: a re-ingestion keeps that time.

    So re-ingesting a file rewrites byte-identical rows and never makes an old
    version newer than a correction ingested since.
    """
    with conn, conn.cursor() as cur:
        cur.execute(
            f"SELECT MIN(ingested_at) FROM {META_SCHEMA}.{CSV_REPORTS_TABLE} "
            "WHERE file_sha256 = %s AND status <> 'quarantined'",
            (sha256,),
        )
        (first,) = cur.fetchone()
    return None if first is None else _ms(first)


def record_file(
    conn: Any,
    *,
    file_name: str,
    sha256: str,
    ingested_at_ms: int,
    event_ids: Sequence[str],
    rows_read: int,
    rows_rejected: int,
    status: str,
    reason: str | None,
) -> int:
    """Update the line index and insert the report in one transaction; returns rows replaced.

    Replaced = loaded lines whose identity an older version (another file or
    content) had loaded.  The index keeps, per line, the newest version.
    """
    index = f"{META_SCHEMA}.{LINE_INDEX_TABLE}"
    at = _ts(ingested_at_ms)
    with conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS csv_batch_lines")
        cur.execute("CREATE TEMPORARY TABLE csv_batch_lines (event_id CHAR(36) NOT NULL)")
        if event_ids:
            cur.copy_expert(
                "COPY csv_batch_lines (event_id) FROM STDIN", io.StringIO("\n".join(event_ids) + "\n")
            )
        cur.execute(
            f"SELECT COUNT(DISTINCT b.event_id) FROM csv_batch_lines b "
            f"JOIN {index} i ON i.event_id = b.event_id WHERE i.file_sha256 <> %s AND i.ingested_at < %s",
            (sha256, at),
        )
        (replaced,) = cur.fetchone()
        cur.execute(
            f"DELETE FROM {index} USING csv_batch_lines b WHERE {index}.event_id = b.event_id "
            f"AND {index}.ingested_at <= %s",
            (at,),
        )
        cur.execute(
            f"INSERT INTO {index} (event_id, file_name, file_sha256, ingested_at) "
            f"SELECT b.event_id, %s, %s, %s FROM csv_batch_lines b "
            f"WHERE NOT EXISTS (SELECT 1 FROM {index} i WHERE i.event_id = b.event_id)",
            (file_name, sha256, at),
        )
        cur.execute(
            f"INSERT INTO {META_SCHEMA}.{CSV_REPORTS_TABLE} (file_name, file_sha256, ingested_at, rows_read, "
            "rows_loaded, rows_replaced, rows_rejected, status, reason) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                file_name,
                sha256,
                at,
                rows_read,
                len(event_ids),
                int(replaced),
                rows_rejected,
                status,
                None if reason is None else reason[:4000],
            ),
        )
        cur.execute("DROP TABLE csv_batch_lines")
    return int(replaced)
