"""Ingest CSV exports: one file at a time, each with a report that reconciles.

For each file: read the bytes, decode and find the layout (or quarantine the
whole file), normalise the records, write the rejected rows to quarantine and
the accepted ones to the raw zone, then record the report and the loaded line
identities in PostgreSQL in one transaction.  Files are taken in name order,
so a later delivery (``sales_data_2024-10-19.csv`` after ``..-18.csv``, or a
``_v2``) is ingested later and wins.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from salespulse.csv_ingest import layout as lay
from salespulse.csv_ingest import store
from salespulse.csv_ingest.normalise import normalise
from salespulse.names import QUARANTINE_ZONE, Names
from salespulse.settings import Settings, get_settings

log = logging.getLogger(__name__)

#: File name endings taken from a directory.
CSV_SUFFIXES = (".csv", ".tsv", ".txt")


@dataclass(slots=True)
class FileReport:
    """What happened to one file; ``rows_read == rows_loaded + rows_rejected`` always."""

    file_name: str
    sha256: str
    ingested_at_ms: int
    rows_read: int = 0
    rows_loaded: int = 0
    rows_replaced: int = 0
    rows_rejected: int = 0
    status: str = "loaded"  # loaded | partial | rejected | quarantined
    reason: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    lake_files: list[Path] = field(default_factory=list)
    quarantine: Path | None = None

    def line(self) -> str:
        text = (
            f"{self.file_name}: {self.status}: read {self.rows_read}, loaded {self.rows_loaded}, "
            f"replaced {self.rows_replaced}, rejected {self.rows_rejected}"
        )
        if self.encoding:
            text += f" ({self.encoding}, delimiter {self.delimiter!r})"
        if self.reason:
            text += f": {self.reason}"
        return text


def discover(paths: Iterable[Path]) -> list[Path]:
    """Files named on the command line, and the CSV-like files of named directories, in name order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(
                    (p for p in path.iterdir() if p.is_file() and p.suffix.lower() in CSV_SUFFIXES),
                    key=lambda p: p.name,
                )
            )
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"no such file or directory: {path}")
    return found


def _status(loaded: int, rejected: int) -> str:
    if rejected == 0:
        return "loaded"
    return "partial" if loaded else "rejected"


def ingest_file(
    path: Path,
    *,
    conn: Any,
    names: Names,
    now_ms: int,
    region_of: Mapping[str, str],
) -> FileReport:
    """Ingest one file (see the module docstring); ``now_ms`` is its ingestion time."""
    data = path.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    quarantine_dir = names.zone(QUARANTINE_ZONE)
    earlier = store.earlier_ingested_at_ms(conn, sha256)
    report = FileReport(path.name, sha256, earlier if earlier is not None else now_ms)
    event_ids: list[str] = []
    try:
        text, encoding = lay.decode(data)
        layout = lay.detect_layout(text, encoding)
        records = list(lay.records(text, layout))
    except (lay.UnreadableFile, UnicodeDecodeError) as exc:
        report.status, report.reason = "quarantined", str(exc)
        report.quarantine = store.quarantine_file(data, path.name, report.reason, quarantine_dir)
    else:
        rows = normalise(records, layout, path.name, region_of)
        report.encoding, report.delimiter = encoding, layout.delimiter
        report.rows_read, report.rows_loaded = len(records), rows.loaded
        report.rows_rejected = len(rows.rejected)
        report.status = _status(rows.loaded, report.rows_rejected)
        if layout.ignored:
            log.info("%s: ignored columns %s", path.name, [c for c in layout.ignored])
        report.quarantine = store.quarantine_rows(rows.rejected, layout.header, path.name, quarantine_dir)
        if rows.loaded:
            event_ids = rows.columns["event_id"]
            report.lake_files = store.write_lake(
                rows, names.raw_sales_dir(store.SOURCE), path.name, sha256, report.ingested_at_ms
            )
    assert report.rows_read == report.rows_loaded + report.rows_rejected
    report.rows_replaced = store.record_file(
        conn,
        file_name=path.name,
        sha256=sha256,
        ingested_at_ms=report.ingested_at_ms,
        event_ids=event_ids,
        rows_read=report.rows_read,
        rows_rejected=report.rows_rejected,
        status=report.status,
        reason=report.reason,
    )
    return report


def customer_regions(settings: Settings) -> dict[str, str]:
    """customer id -> region of the shared catalogue (fills the region a file lacks)."""
    from salespulse.reference import get_catalogue

    catalogue = get_catalogue(settings)
    return dict(zip(catalogue.customer_id.tolist(), catalogue.customer_region.tolist(), strict=True))


def ingest_paths(
    paths: Iterable[Path] | None = None,
    *,
    settings: Settings | None = None,
    database_url: str | None = None,
    now_ms: int | None = None,
) -> list[FileReport]:
    """Ingest files and directories (default: the landing directory); one report per file.

    ``now_ms`` fixes the ingestion time (tests); each later file gets a later
    time, so the later file wins even within one millisecond.
    """
    import psycopg2

    from salespulse import services

    s = settings or get_settings()
    names = Names.from_settings(s)
    files = discover(list(paths) if paths else [names.landing_dir])
    if not files:
        log.info("no CSV files to ingest")
        return []
    conn = psycopg2.connect(database_url or services.urls(s).database)
    reports = []
    try:
        store.ensure_tables(conn)
        region_of = customer_regions(s)
        clock = now_ms if now_ms is not None else int(time.time() * 1000)
        for path in files:
            report = ingest_file(path, conn=conn, names=names, now_ms=clock, region_of=region_of)
            level = logging.WARNING if report.status in ("quarantined", "rejected") else logging.INFO
            log.log(level, report.line())
            reports.append(report)
            clock = max(clock + 1, int(time.time() * 1000)) if now_ms is None else clock + 1
    finally:
        conn.close()
    return reports
