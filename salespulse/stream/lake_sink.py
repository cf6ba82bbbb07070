"""The stream's raw-zone sink: one file per (partition chunk, event date), named by offsets.

Files go through :func:`salespulse.lake.write_by_date` (temporary name, fsync,
atomic rename), so a reader never sees a partial file and a replayed chunk
with the same offsets replaces its file instead of duplicating it.

Names are ``<topic>-p<partition>-o<first>-<last>-i<incarnation>.parquet``:
the contract's name plus a short tag of the topic's id, because a recreated
topic restarts its offsets at 0 and would otherwise overwrite the old
incarnation's files.

A chunk written but never applied to Redis (the consumer died in between) is
an orphan: on assignment the consumer deletes the partition's files at or
beyond its progress marker, so the replay writes them again and every event
is in the lake exactly once, in step with Redis.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from salespulse import lake

log = logging.getLogger(__name__)

SOURCE = "stream"
_NAME_RE = re.compile(
    r"^(?P<topic>.+)-p(?P<p>\d+)-o(?P<first>\d+)-(?P<last>\d+)-i(?P<inc>[0-9a-f]{8})\.parquet$"
)


def incarnation_tag(incarnation: str) -> str:
    """Eight hex digits of the topic id: file-name safe whatever alphabet the broker uses."""
    return hashlib.sha1(incarnation.encode()).hexdigest()[:8]


def file_name(topic: str, partition: int, first: int, last: int, incarnation: str) -> str:
    return f"{topic}-p{partition}-o{first}-{last}-i{incarnation_tag(incarnation)}.parquet"


@dataclass(frozen=True, slots=True)
class FileRange:
    topic: str
    partition: int
    first: int
    last: int
    tag: str


def parse_file_name(name: str) -> FileRange | None:
    m = _NAME_RE.match(name)
    if not m:
        return None
    return FileRange(m["topic"], int(m["p"]), int(m["first"]), int(m["last"]), m["inc"])


def write_chunk(table: pa.Table, raw_dir: Path, name: str) -> list[Path]:
    """One chunk's rows, split by event date, each part atomically under ``name``."""
    return lake.write_by_date(table, raw_dir, name)


def remove_orphans(
    raw_dir: Path, topic: str, partition: int, incarnation: str, from_offset: int
) -> list[Path]:
    """Delete this partition's files that start at or after ``from_offset`` (never applied),
    and its leftover temporary files (a writer killed before its rename)."""
    if not raw_dir.is_dir():
        return []
    tag = incarnation_tag(incarnation)
    removed = []
    prefix = f"{topic}-p{partition}-o"
    for path in raw_dir.glob(f"event_date=*/{prefix}*"):
        found = parse_file_name(path.name)
        if found and found.topic == topic and found.tag == tag and found.first >= from_offset:
            path.unlink(missing_ok=True)
            removed.append(path)
    for path in raw_dir.glob(f"event_date=*/.{prefix}*.tmp"):
        path.unlink(missing_ok=True)
        removed.append(path)
    if removed:
        log.info(
            "lake: removed %d unapplied file(s) of %s[%d] from offset %d",
            len(removed),
            topic,
            partition,
            from_offset,
        )
    return removed
