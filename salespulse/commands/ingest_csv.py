"""``salespulse ingest-csv``: messy CSV exports into the raw zone, with a report per file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "ingest-csv",
        help="ingest CSV sales exports (default: the landing directory) into the raw zone",
        description=(
            "Read CSV exports from other systems (delimiters , ; tab |; UTF-8 with or without BOM, "
            "Latin-1; header aliases in any case; thousands separators and decimal commas; ISO, "
            "YYYY/MM/DD, MM/DD/YYYY, DD.MM.YYYY and DD-Mon-YYYY dates), write valid rows to "
            "raw/sales/source=csv/, rejected rows with their line number and reason to "
            "quarantine/csv/<file>.rejected.csv, unreadable files to quarantine/files/. "
            "A line is identified by (order id, line number), or (order id, product id) without "
            "line numbers: re-ingesting a file, or a corrected version, replaces earlier versions. "
            "Each file's report (read, loaded, replaced, rejected) is logged and stored in "
            "warehouse_meta.csv_file_reports."
        ),
    )
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="CSV files or directories (*.csv, *.tsv, *.txt); default: data/landing/",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from salespulse.csv_ingest import ingest_paths

    try:
        reports = ingest_paths(args.paths or None)
    except FileNotFoundError as exc:
        print(f"salespulse ingest-csv: {exc}", file=sys.stderr)
        return 2
    for report in reports:
        print(report.line())
    read = sum(r.rows_read for r in reports)
    loaded = sum(r.rows_loaded for r in reports)
    print(
        f"{len(reports)} files: read {read}, loaded {loaded}, "
        f"replaced {sum(r.rows_replaced for r in reports)}, rejected {sum(r.rows_rejected for r in reports)}"
    )
    return 0
