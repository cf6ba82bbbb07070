"""Which raw files and which days a batch run covers.

Everything here is plain Python on small records, so the rules that make an
incremental run equal a full rebuild are unit-tested without Spark:

* the published warehouse holds exactly the days ``< watermark``;
* a raw file is identified by ``(path, size, mtime_ns)``: a rewritten file
  (a replayed stream batch, a re-ingested CSV) counts as changed;
* an incremental run recomputes every day that has a new, changed or removed
  file, and the days where an earlier version of a re-ingested CSV line lived
  (a corrected order date moves a line to another day).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

_DATE_DIR = re.compile(r"^event_date=(\d{4}-\d{2}-\d{2})$")
_SOURCE_DIR = re.compile(r"^source=([a-z]+)$")


@dataclass(frozen=True, slots=True, order=True)
class RawFile:
    """One committed raw-zone file, identified by path, size and modification time."""

    path: str
    event_date: date
    source: str
    size_bytes: int
    mtime_ns: int

    @property
    def identity(self) -> tuple[str, int, int]:
        return (self.path, self.size_bytes, self.mtime_ns)


def parse_raw_path(path: Path) -> tuple[str, date] | None:
    """``.../source=csv/event_date=2026-01-02/x.parquet`` -> ("csv", 2026-01-02); else None."""
    day = _DATE_DIR.match(path.parent.name)
    source = _SOURCE_DIR.match(path.parent.parent.name)
    if not day or not source or path.name.startswith(".") or path.suffix != ".parquet":
        return None
    return source.group(1), date.fromisoformat(day.group(1))


def list_raw_files(raw_sales_root: Path) -> list[RawFile]:
    """Every committed file under ``raw/sales`` (one ``stat`` each; temporaries skipped)."""
    found: list[RawFile] = []
    if not raw_sales_root.is_dir():
        return found
    for source_dir in sorted(raw_sales_root.iterdir()):
        if not source_dir.is_dir():
            continue
        for day_dir in sorted(source_dir.iterdir()):
            if not day_dir.is_dir():
                continue
            with os.scandir(day_dir) as entries:
                for entry in entries:
                    parsed = parse_raw_path(Path(entry.path))
                    if parsed is None or not entry.is_file():
                        continue
                    st = entry.stat()
                    found.append(RawFile(entry.path, parsed[1], parsed[0], st.st_size, st.st_mtime_ns))
    return sorted(found)


def before(files: Iterable[RawFile], watermark: date) -> list[RawFile]:
    """Files whose day the warehouse publishes (``event_date < watermark``)."""
    return [f for f in files if f.event_date < watermark]


def in_dates(files: Iterable[RawFile], dates: set[date]) -> list[RawFile]:
    return [f for f in files if f.event_date in dates]


def changed_dates(current: Iterable[RawFile], processed: Iterable[RawFile]) -> set[date]:
    """Days with a file that is new, rewritten (size or mtime differ) or gone since ``processed``."""
    now = {f.identity: f for f in current}
    then = {f.identity: f for f in processed}
    added = {f.event_date for key, f in now.items() if key not in then}
    removed = {f.event_date for key, f in then.items() if key not in now}
    return added | removed


def date_range(first: date, last: date) -> list[date]:
    """Inclusive list of days (``first > last`` gives an empty list)."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def expand_by_versions(dates: set[date], versions: Mapping[str, set[date]]) -> set[date]:
    """Add the days where other versions of the same event ids live, to a fixed point.

    ``versions`` maps an event id to every day any version of it is stored
    under (only CSV lines can move between days).  Recomputing a day means
    re-deciding which version of each of its lines wins, and the losing or
    winning version elsewhere must be recomputed with it.
    """
    by_date: dict[date, set[str]] = {}
    for event_id, days in versions.items():
        if len(days) > 1:
            for d in days:
                by_date.setdefault(d, set()).add(event_id)
    result = set(dates)
    frontier = list(result)
    while frontier:
        day = frontier.pop()
        for event_id in by_date.get(day, ()):
            for other in versions[event_id]:
                if other not in result:
                    result.add(other)
                    frontier.append(other)
    return result


@dataclass(frozen=True, slots=True)
class Plan:
    """What one run reads and replaces.

    ``dates is None`` means a full rebuild (every day before the watermark);
    otherwise only those days are recomputed and merged into the published tables.
    """

    mode: str
    watermark: date
    files: tuple[RawFile, ...]
    dates: frozenset[date] | None
    range_from: date | None = None
    range_to: date | None = None

    @property
    def is_full(self) -> bool:
        return self.dates is None


def full_plan(files: Iterable[RawFile], watermark: date) -> Plan:
    chosen = tuple(before(files, watermark))
    first = min((f.event_date for f in chosen), default=None)
    last = max((f.event_date for f in chosen), default=None)
    return Plan("full", watermark, chosen, None, first, last)


def partial_plan(mode: str, files: Iterable[RawFile], watermark: date, dates: set[date]) -> Plan:
    """Recompute ``dates`` (already expanded) before ``watermark``."""
    wanted = {d for d in dates if d < watermark}
    chosen = tuple(in_dates(files, wanted))
    return Plan(
        mode,
        watermark,
        chosen,
        frozenset(wanted),
        min(wanted, default=None),
        max(wanted, default=None),
    )


def read_csv_versions(files: Iterable[RawFile]) -> dict[str, set[date]]:
    """event_id -> days, for CSV lines stored under more than one day (I/O: reads two columns)."""
    import pyarrow.compute as pc
    import pyarrow.dataset as pads

    paths = [f.path for f in files if f.source == "csv"]
    if not paths:
        return {}
    table = pads.dataset(paths, format="parquet").to_table(columns=["event_id", "event_date"])
    pairs = table.group_by(["event_id", "event_date"]).aggregate([])
    counts = pairs.group_by("event_id").aggregate([("event_date", "count")])
    moved = counts.filter(pc.greater(counts.column("event_date_count"), 1)).column("event_id")
    if len(moved) == 0:
        return {}
    rows = pairs.filter(pc.is_in(pairs.column("event_id"), value_set=moved))
    out: dict[str, set[date]] = {}
    for event_id, day in zip(
        rows.column("event_id").to_pylist(), rows.column("event_date").to_pylist(), strict=True
    ):
        out.setdefault(event_id, set()).add(day)
    return out
