"""Pipeline health: batch runs, watermark, consumer lag and throughput, rejects.

Read from the places each layer already records them (docs/CONTRACTS.md):
``warehouse_meta.batch_runs`` and ``csv_file_reports`` in PostgreSQL, the
consumer's ``P:stats:*`` keys in Redis, and the lake's quarantine folder for
the reasons rows and files were rejected.
"""

from __future__ import annotations

import csv
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from api import selectors
from api.speed import SpeedViews
from salespulse.names import QUARANTINE_ZONE, Names

#: Bounds on what one request reads from the quarantine folder.
MAX_FILES = 50
MAX_ROWS_PER_FILE = 20_000


def quarantine_summary(names: Names) -> dict[str, Any]:
    """Rejected CSV rows by reason, and unreadable files with their reason."""
    root = names.zone(QUARANTINE_ZONE)
    reasons: Counter[str] = Counter()
    files: list[dict[str, Any]] = []
    rows_total = 0
    csv_dir = root / "csv"
    if csv_dir.is_dir():
        paths = sorted(csv_dir.glob("*.rejected.csv"), key=lambda p: p.stat().st_mtime, reverse=True)
        for path in paths[:MAX_FILES]:
            count = 0
            with path.open(newline="", encoding="utf-8", errors="replace") as fh:
                for i, row in enumerate(csv.DictReader(fh)):
                    if i >= MAX_ROWS_PER_FILE:
                        break
                    count += 1
                    for reason in (row.get("reason") or "unknown").split(";"):
                        reasons[reason.strip().split(":")[0] + ": " + _tail(reason)] += 1
            rows_total += count
            files.append({"file": path.name, "kind": "rows", "rows": count})
    files_dir = root / "files"
    if files_dir.is_dir():
        for reason_file in sorted(files_dir.glob("*.reason.txt"))[:MAX_FILES]:
            files.append(
                {
                    "file": reason_file.name.removesuffix(".reason.txt"),
                    "kind": "file",
                    "reason": _read(reason_file),
                }
            )
    top = [{"reason": r, "count": n} for r, n in reasons.most_common(20)]
    return {"rows_rejected": rows_total, "reasons": top, "files": files}


def _tail(reason: str) -> str:
    """The reason without its offending value, so identical causes group together."""
    text = reason.strip().split(":", 1)[-1].strip()
    return text.split(", got")[0].split(" got ")[0][:80]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()[:500]
    except OSError as exc:
        return f"unreadable reason file: {exc}"


def warehouse_part(names: Names) -> dict[str, Any]:
    """What PostgreSQL and the lake say: batch runs, CSV reports, quarantine."""
    return {
        "batch_runs": selectors.batch_runs(10),
        "csv_reports": selectors.csv_reports(20),
        "quarantine": quarantine_summary(names),
    }


def status_compose(
    part: dict[str, Any],
    markers: tuple[date | None, str | None],
    consumer: dict[str, Any],
    late_events: int,
    speed_days: list[date],
) -> dict[str, Any]:
    """The pipeline-status answer from the warehouse part and the speed layer's counters."""
    watermark, run_id = markers
    published = next((r for r in part["batch_runs"] if r["status"] == "published"), None)
    return {
        "as_of": datetime.now(UTC).isoformat(timespec="seconds"),
        "watermark": watermark.isoformat() if watermark else (published or {}).get("watermark"),
        "latest_batch_run": run_id or (published or {}).get("run_id"),
        "batch_runs": part["batch_runs"],
        "consumer": consumer,
        "late_events": late_events,
        "dlq_total": consumer.get("dlq_total", 0),
        "speed_days": [d.isoformat() for d in speed_days],
        "csv_reports": part["csv_reports"],
        "quarantine": part["quarantine"],
    }


def pipeline_status_get(speed: SpeedViews | None = None) -> dict[str, Any]:
    views = speed or SpeedViews()
    return status_compose(
        warehouse_part(views.n),
        views.markers(),
        views.consumer_stats(),
        views.late_events(),
        views.speed_days(),
    )
