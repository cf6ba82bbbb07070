"""Splitting one ``consume()`` batch into per-partition chunks of good and dead events.

Pure: takes message-like objects (anything with ``partition()``, ``offset()``,
``value()``, ``key()``, ``headers()``), decodes them all at once through the
contract's columnar decoder (:func:`salespulse.events_columnar.decode_many`,
the same verdicts as :func:`salespulse.events.decode`) and never touches a
server.  A chunk covers a contiguous run of one partition's offsets, so the
progress marker can move to ``last + 1`` and the lake file can be named by
the range.  The good events come out as one raw-zone table, partition by
partition, in offset order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from salespulse.events_columnar import decode_many
from salespulse.lake import RAW_SALES_SCHEMA
from salespulse.stream.lake_sink import SOURCE


class MessageLike(Protocol):
    def partition(self) -> int: ...
    def offset(self) -> int: ...
    def value(self) -> bytes | None: ...
    def key(self) -> bytes | None: ...
    def headers(self) -> list[tuple[str, bytes]] | None: ...


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that is not a valid sale event, with every reason and where it came from."""

    value: bytes | None
    key: bytes | None
    headers: list[tuple[str, bytes]]
    reason: str
    partition: int
    offset: int


@dataclass
class Chunk:
    """The new messages of one partition in a batch."""

    partition: int
    first: int
    last: int
    n_events: int = 0
    dead: list[DeadLetter] = field(default_factory=list)

    @property
    def next_offset(self) -> int:
        return self.last + 1


@dataclass
class Batch:
    chunks: dict[int, Chunk] = field(default_factory=dict)
    replayed: int = 0  # messages below the progress marker, skipped
    #: Good events as raw-zone rows, partition by partition (ascending), offsets ascending.
    table: pa.Table | None = None

    @property
    def dead(self) -> list[DeadLetter]:
        return [d for p in sorted(self.chunks) for d in self.chunks[p].dead]

    @property
    def n_events(self) -> int:
        return sum(c.n_events for c in self.chunks.values())

    @property
    def n_messages(self) -> int:
        return sum(c.last - c.first + 1 for c in self.chunks.values())


def split(
    messages: Iterable[MessageLike],
    topic: str,
    next_offsets: Mapping[int, int | None],
    ingested_at_ms: int = 0,
) -> Batch:
    """Decode ``messages`` into per-partition chunks, skipping offsets already applied.

    ``next_offsets`` is each partition's progress marker (``None`` = nothing
    applied yet); a message below it was applied before a crash and is
    dropped here, which is what makes a replay harmless.
    """
    batch = Batch()
    chunks = batch.chunks
    kept: list[MessageLike] = []
    partitions: list[int] = []
    offsets: list[int] = []
    for msg in messages:
        partition = msg.partition()
        offset = msg.offset()
        floor = next_offsets.get(partition)
        if floor is not None and offset < floor:
            batch.replayed += 1
            continue
        chunk = chunks.get(partition)
        if chunk is None:
            chunk = chunks[partition] = Chunk(partition, offset, offset)
        chunk.last = offset
        kept.append(msg)
        partitions.append(partition)
        offsets.append(offset)
    if not kept:
        return batch

    decoded = decode_many([m.value() for m in kept])
    for i in sorted(decoded.rejects):
        msg = kept[i]
        chunks[partitions[i]].dead.append(
            DeadLetter(
                msg.value(),
                msg.key(),
                list(msg.headers() or ()),
                decoded.rejects[i],
                partitions[i],
                offsets[i],
            )
        )
    if decoded.table.num_rows == 0:
        return batch
    part = np.asarray(partitions, np.int64)[decoded.positions]
    offs = np.asarray(offsets, np.int64)[decoded.positions]
    table = decoded.table
    step_part, step_offs = np.diff(part), np.diff(offs)
    if np.any(step_part < 0) or np.any((step_part == 0) & (step_offs < 0)):  # interleaved partitions
        order = np.lexsort((offs, part))
        table, part, offs = table.take(pa.array(order)), part[order], offs[order]
    for p, n in zip(*np.unique(part, return_counts=True), strict=True):
        chunks[int(p)].n_events = int(n)
    prefixes = pa.array([f"{topic}/{p}/" for p in range(int(part.max()) + 1)], pa.string())
    origins = pc.binary_join_element_wise(
        pc.take(prefixes, pa.array(part)), pc.cast(pa.array(offs), pa.string()), ""
    )
    n = table.num_rows
    batch.table = pa.Table.from_arrays(
        [
            *table.columns,
            pa.array([SOURCE] * n, pa.string()),
            origins,
            pa.array(np.full(n, ingested_at_ms, np.int64), pa.timestamp("ms", tz="UTC")),
        ],
        schema=RAW_SALES_SCHEMA,
    )
    return batch
