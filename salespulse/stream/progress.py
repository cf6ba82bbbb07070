"""Per-partition progress markers: where a partition's applied events end.

The marker ``P:progress:{topic}:{partition}`` (hash ``next_offset``,
``incarnation``) is written by the same atomic Redis script as the views, so
it is the truth about what Redis already contains; committed Kafka offsets
only lag behind it.  The incarnation is the topic's id: when a topic is
deleted and recreated its offsets restart at 0, and a marker of the old
incarnation must not make the new events look like replays.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Marker fields (CONTRACTS.md).
NEXT_OFFSET = "next_offset"
INCARNATION = "incarnation"


@dataclass(frozen=True, slots=True)
class Marker:
    """A marker as stored; ``next_offset`` is ``None`` when none is stored yet."""

    incarnation: str = ""
    next_offset: int | None = None

    @classmethod
    def from_fields(cls, incarnation: str | None, next_offset: str | None) -> Marker:
        return cls(incarnation or "", int(next_offset) if next_offset not in (None, "") else None)

    @property
    def stored(self) -> tuple[str, str]:
        """The exact field values the atomic script compares against (``""`` = absent)."""
        return self.incarnation, "" if self.next_offset is None else str(self.next_offset)


@dataclass(frozen=True, slots=True)
class Resume:
    """Where to start reading a newly assigned partition, and what the marker must look like."""

    start_offset: int | None  # None: the group's committed offset (or auto.offset.reset)
    expected: Marker  # the marker the next batch's compare-and-set expects
    applied_floor: int | None  # offsets below this are already in Redis (skip them)
    new_incarnation: bool


def resume(marker: Marker, incarnation: str, committed: int | None) -> Resume:
    """Decide where a partition resumes from its marker, its topic id and the committed offset.

    * same incarnation: resume exactly at the marker (everything below it is
      in Redis and, written earlier, in the lake);
    * a marker of another incarnation: the topic was recreated, so read the
      new one from its beginning and count everything;
    * no marker: the committed offset (or the reset policy) decides.
    """
    if marker.next_offset is not None and marker.incarnation == incarnation:
        return Resume(marker.next_offset, marker, marker.next_offset, False)
    if marker.next_offset is not None:
        return Resume(0, marker, None, True)
    return Resume(committed if committed is not None and committed >= 0 else None, marker, None, False)
