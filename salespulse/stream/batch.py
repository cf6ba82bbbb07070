"""Splitting one ``consume()`` batch into per-partition chunks of good and dead events.

Pure: takes message-like objects (anything with ``partition()``, ``offset()``,
``value()``, ``key()``, ``headers()``), decodes each through the one contract
module (:func:`salespulse.events.decode`) and never touches a server.  A chunk
covers a contiguous run of one partition's offsets, so the progress marker
can move to ``last + 1`` and the lake file can be named by the range.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from salespulse.events import InvalidEvent, SaleEvent, decode


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
    events: list[SaleEvent] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)

    @property
    def next_offset(self) -> int:
        return self.last + 1


@dataclass
class Batch:
    chunks: dict[int, Chunk] = field(default_factory=dict)
    replayed: int = 0  # messages below the progress marker, skipped

    @property
    def events(self) -> list[SaleEvent]:
        """Good events in partition order, the same order as :attr:`origins`."""
        return [e for p in sorted(self.chunks) for e in self.chunks[p].events]

    @property
    def origins(self) -> list[str]:
        return [o for p in sorted(self.chunks) for o in self.chunks[p].origins]

    @property
    def dead(self) -> list[DeadLetter]:
        return [d for p in sorted(self.chunks) for d in self.chunks[p].dead]

    @property
    def n_events(self) -> int:
        return sum(len(c.events) for c in self.chunks.values())

    @property
    def n_messages(self) -> int:
        return sum(c.last - c.first + 1 for c in self.chunks.values())


def split(messages: Iterable[MessageLike], topic: str, next_offsets: Mapping[int, int | None]) -> Batch:
    """Decode ``messages`` into per-partition chunks, skipping offsets already applied.

    ``next_offsets`` is each partition's progress marker (``None`` = nothing
    applied yet); a message below it was applied before a crash and is
    dropped here, which is what makes a replay harmless.
    """
    batch = Batch()
    chunks = batch.chunks
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
        value = msg.value()
        try:
            event = decode(value)
        except InvalidEvent as exc:
            chunk.dead.append(
                DeadLetter(value, msg.key(), list(msg.headers() or ()), str(exc), partition, offset)
            )
            continue
        chunk.events.append(event)
        chunk.origins.append(f"{topic}/{partition}/{offset}")
    return batch
