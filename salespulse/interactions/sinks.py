"""The funnel consumer's two sinks: raw Parquet files and one atomic Redis script per batch.

Lake: ``raw/interactions/event_date=D/<topic>-p<P>-o<first>-<last>-i<tag>.parquet``,
written under a temporary name and renamed (:func:`salespulse.lake.write_atomic`),
so a replayed chunk with the same offsets replaces its file, and ``<tag>``
(eight hex digits of the topic id) keeps a recreated topic from overwriting
the old incarnation's files.

Redis: the script first compares every partition's progress marker with what
the consumer expects (compare-and-set) and applies nothing if one differs, so
a batch is counted exactly once even when it is replayed or a second consumer
races this one; then it increments the funnel hashes and moves the markers.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import redis

from salespulse import lake
from salespulse.interactions.contract import Interaction
from salespulse.interactions.funnel import FunnelDeltas
from salespulse.names import RAW_ZONE, Names
from salespulse.stream.progress import INCARNATION, NEXT_OFFSET, Marker
from salespulse.stream.redis_sink import LUA_CHECK_PROGRESS, LUA_HASH_INCREMENTS, LUA_MOVE_PROGRESS

DAY_S = 86_400
#: Funnel day keys live as long as the sales day keys (CONTRACTS.md): 3 days after the day ends.
DAY_TTL_AFTER_END_S = 3 * DAY_S

RAW_INTERACTIONS_SCHEMA = pa.schema(
    [
        pa.field("interaction_id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("event_time", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("event_date", pa.date32(), nullable=False),
        pa.field("session_id", pa.string(), nullable=False),
        pa.field("customer_id", pa.string(), nullable=True),
        pa.field("product_id", pa.string(), nullable=False),
        pa.field("channel", pa.string(), nullable=False),
        pa.field("region", pa.string(), nullable=False),
        pa.field("order_id", pa.string(), nullable=True),
        pa.field("origin", pa.string(), nullable=False),  # topic/partition/offset
        pa.field("ingested_at", pa.timestamp("ms", tz="UTC"), nullable=False),
    ]
)
_NAME_RE = re.compile(
    r"^(?P<topic>.+)-p(?P<p>\d+)-o(?P<first>\d+)-(?P<last>\d+)-i(?P<tag>[0-9a-f]{8})\.parquet$"
)


# -- lake ------------------------------------------------------------------------------


def raw_dir(names: Names) -> Path:
    """``<lake>/raw/interactions``: partitions ``event_date=YYYY-MM-DD`` below."""
    return names.zone(RAW_ZONE) / "interactions"


def incarnation_tag(incarnation: str) -> str:
    return hashlib.sha1(incarnation.encode()).hexdigest()[:8]


def file_name(topic: str, partition: int, first: int, last: int, incarnation: str) -> str:
    return f"{topic}-p{partition}-o{first}-{last}-i{incarnation_tag(incarnation)}.parquet"


def to_table(items: Sequence[Interaction], origins: Sequence[str], ingested_at_ms: int) -> pa.Table:
    """Validated interactions -> a raw-zone table."""
    times = np.fromiter((i.event_time_ms for i in items), np.int64, len(items))
    return pa.table(
        {
            "interaction_id": [i.interaction_id for i in items],
            "kind": [i.kind for i in items],
            "event_time": pa.array(times, pa.timestamp("ms", tz="UTC")),
            "event_date": pa.array((times // 86_400_000).astype(np.int32), pa.date32()),
            "session_id": [i.session_id for i in items],
            "customer_id": pa.array([i.customer_id for i in items], pa.string()),
            "product_id": [i.product_id for i in items],
            "channel": [i.channel for i in items],
            "region": [i.region for i in items],
            "order_id": pa.array([i.order_id for i in items], pa.string()),
            "origin": list(origins),
            "ingested_at": pa.array(
                np.full(len(items), ingested_at_ms, np.int64), pa.timestamp("ms", tz="UTC")
            ),
        },
        schema=RAW_INTERACTIONS_SCHEMA,
    )


def write_chunk(table: pa.Table, directory: Path, name: str) -> list[Path]:
    """One partition chunk, split by event date, each part atomically under ``name``."""
    return lake.write_by_date(table, directory, name)


def remove_orphans(
    directory: Path, topic: str, partition: int, incarnation: str, from_offset: int
) -> list[Path]:
    """Delete the partition's files starting at or after ``from_offset`` (written, never applied)
    and leftover temporary files, so the replay writes them again and each event is there once."""
    if not directory.is_dir():
        return []
    tag = incarnation_tag(incarnation)
    removed = []
    prefix = f"{topic}-p{partition}-o"
    for path in directory.glob(f"event_date=*/{prefix}*"):
        m = _NAME_RE.match(path.name)
        if m and m["topic"] == topic and m["tag"] == tag and int(m["first"]) >= from_offset:
            path.unlink(missing_ok=True)
            removed.append(path)
    for path in directory.glob(f"event_date=*/.{prefix}*.tmp"):
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


# -- Redis -----------------------------------------------------------------------------

LUA = (
    r"""
local p = cjson.decode(ARGV[1])
"""
    + LUA_CHECK_PROGRESS
    + r""""""
    + LUA_HASH_INCREMENTS
    + r"""local st = KEYS[p.st]
redis.call('HINCRBY', st, 'events_total', p.ev)
redis.call('HINCRBY', st, 'invalid_total', p.bad)
redis.call('HSET', st, 'updated_at', p.now)
"""
    + LUA_MOVE_PROGRESS
    + r"""return {1, {}}
"""
)


@dataclass(frozen=True, slots=True)
class ProgressUpdate:
    """Move ``partition``'s marker from ``expected`` to ``new`` (compare-and-set)."""

    partition: int
    expected: Marker
    new: Marker


def progress_key(names: Names, topic: str, partition: int) -> str:
    return names.key("progress", topic, partition)


def funnel_key(names: Names, day: str, dimension: str | None = None) -> str:
    """``P:day:{D}:funnel`` (totals) or ``P:day:{D}:funnel:{genre|channel}``."""
    return names.key("day", day, "funnel", *([dimension] if dimension else []))


def stats_key(names: Names) -> str:
    return names.key("stats", "interactions")


def day_expire_at(day: str) -> int:
    start = (date.fromisoformat(day) - date(1970, 1, 1)).days * DAY_S
    return start + DAY_S + DAY_TTL_AFTER_END_S


def script_args(
    deltas: FunnelDeltas, names: Names, topic: str, updates: Sequence[ProgressUpdate], invalid: int, now: str
) -> tuple[list[str], bytes]:
    """KEYS and the one JSON argument of :data:`LUA` (every key passed in KEYS, as Redis asks)."""
    keys: dict[str, int] = {}

    def k(key: str) -> int:
        return keys.setdefault(key, len(keys) + 1)

    hashes: list[list[Any]] = []
    for day, counts in sorted(deltas.totals.items()):
        hashes.append([k(funnel_key(names, day)), day_expire_at(day), *_flat(counts)])
    for dimension in ("genre", "channel"):
        for day, members in sorted(deltas.by(dimension).items()):
            fields = {f"{member}:{m}": n for member, counts in members.items() for m, n in counts.items()}
            hashes.append([k(funnel_key(names, day, dimension)), day_expire_at(day), *_flat(fields)])
    payload = {
        "cas": [
            [
                k(progress_key(names, topic, u.partition)),
                *u.expected.stored,
                u.new.incarnation,
                str(u.new.next_offset),
            ]
            for u in updates
        ],
        "h": hashes,
        "st": k(stats_key(names)),
        "ev": deltas.events,
        "bad": invalid,
        "now": now,
    }
    return list(keys), orjson.dumps(payload)


def _flat(pairs: dict[str, int]) -> list[str]:
    out: list[str] = []
    for key, value in sorted(pairs.items()):
        out += [key, str(value)]
    return out


class FunnelRedisSink:
    """Applies a batch's funnel deltas with its progress markers in one script call."""

    def __init__(self, client: redis.Redis, names: Names):
        self.r = client
        self.names = names
        self.script = client.register_script(LUA)

    def read_markers(self, topic: str, partitions: Sequence[int]) -> dict[int, Marker]:
        pipe = self.r.pipeline(transaction=False)
        for p in partitions:
            pipe.hmget(progress_key(self.names, topic, p), INCARNATION, NEXT_OFFSET)
        return {p: Marker.from_fields(*raw) for p, raw in zip(partitions, pipe.execute(), strict=True)}

    def apply(
        self, deltas: FunnelDeltas, topic: str, updates: Sequence[ProgressUpdate], invalid: int, now: str
    ) -> list[str]:
        """Apply atomically; returns the conflicting marker keys (empty = applied)."""
        keys, arg = script_args(deltas, self.names, topic, updates, invalid, now)
        reply = self.script(keys=keys, args=[arg])
        return [] if int(reply[0]) == 1 else [str(c) for c in reply[1]]
