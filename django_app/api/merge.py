"""Pure functions that combine the batch part and the speed part of an answer.

The lambda architecture's serving rule lives here: a range is split at the
batch watermark ``W`` (days ``< W`` from the warehouse, days ``>= W`` from
Redis) so no day is read twice, and the two parts are added measure by
measure.  Nothing here touches a database, so every rule is unit-tested on
plain values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

MEASURES = ("revenue_cents", "orders", "units", "events", "refunds")
Totals = dict[str, int | None]


@dataclass(frozen=True, slots=True)
class DateRange:
    """Inclusive range of days."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __iter__(self):  # type: ignore[no-untyped-def]
        day = self.start
        while day <= self.end:
            yield day
            day += timedelta(days=1)

    def as_dict(self) -> dict[str, object]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "days": self.days}


@dataclass(frozen=True, slots=True)
class Split:
    """Where each part of a range is read from."""

    batch: DateRange | None
    speed: DateRange | None
    watermark: date | None


def split_range(start: date, end: date, watermark: date | None) -> Split:
    """Split ``[start, end]`` at ``watermark``: ``< W`` batch, ``>= W`` speed.

    Without a published batch (no watermark) everything is speed.
    """
    if watermark is None:
        return Split(None, DateRange(start, end), None)
    batch = DateRange(start, min(end, watermark - timedelta(days=1))) if start < watermark else None
    speed = DateRange(max(start, watermark), end) if end >= watermark else None
    return Split(batch, speed, watermark)


def empty_totals(measures: Iterable[str] = MEASURES) -> Totals:
    return dict.fromkeys(measures, 0)


def add_totals(a: Mapping[str, int | None], b: Mapping[str, int | None]) -> Totals:
    """Measure-wise sum; a measure unknown (``None``) on either side stays unknown."""
    out: Totals = {}
    for key in dict.fromkeys([*a, *b]):
        x, y = a.get(key, 0), b.get(key, 0)
        out[key] = None if x is None or y is None else x + y
    return out


def sum_totals(items: Iterable[Mapping[str, int | None]], measures: Iterable[str] = MEASURES) -> Totals:
    total = empty_totals(measures)
    for item in items:
        total = add_totals(total, item)
    return total


def bucket_start(day: date, interval: str) -> date:
    """First day of the bucket ``day`` falls in (ISO weeks start on Monday)."""
    if interval == "day":
        return day
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    raise ValueError(f"unknown interval {interval!r}")


def bucket_starts(start: date, end: date, interval: str) -> list[date]:
    """Every bucket touching ``[start, end]``, in order (for zero-filled charts)."""
    out: list[date] = []
    current = bucket_start(start, interval)
    while current <= end:
        out.append(current)
        if interval == "day":
            current += timedelta(days=1)
        elif interval == "week":
            current += timedelta(days=7)
        else:
            current = (current.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


def bucketize(per_day: Mapping[date, Mapping[str, int | None]], interval: str) -> dict[date, Totals]:
    """Per-day totals -> per-bucket totals."""
    out: dict[date, Totals] = {}
    for day, totals in per_day.items():
        key = bucket_start(day, interval)
        out[key] = add_totals(out.get(key, {}), totals)
    return out


def merge_series(
    start: date,
    end: date,
    interval: str,
    batch: Mapping[date, Mapping[str, int | None]],
    speed: Mapping[date, Mapping[str, int | None]],
    measures: Iterable[str] = MEASURES,
) -> list[dict[str, object]]:
    """Zero-filled bucket series: batch buckets plus speed buckets.

    ``batch`` is already per bucket (the warehouse groups in SQL); ``speed``
    is per day.  A bucket straddling the watermark gets both parts.
    """
    measures = tuple(measures)
    speed_buckets = bucketize(speed, interval)
    series = []
    for key in bucket_starts(start, end, interval):
        totals = add_totals(
            add_totals(empty_totals(measures), batch.get(key, {})), speed_buckets.get(key, {})
        )
        series.append({"period": key.isoformat(), **totals})
    return series


def merge_members(
    batch: Mapping[str, Mapping[str, int | None]],
    speed: Mapping[str, Mapping[str, int | None]],
    members: Iterable[str] = (),
    measures: Iterable[str] = ("revenue_cents", "orders", "units", "events"),
) -> dict[str, Totals]:
    """Per-member totals (region, genre, channel) of both parts; ``members`` are always present."""
    measures = tuple(measures)
    out: dict[str, Totals] = {m: empty_totals(measures) for m in members}
    for part in (batch, speed):
        for member, totals in part.items():
            out[member] = add_totals(out.get(member, empty_totals(measures)), totals)
    return out


def share_pct(part: int, whole: int) -> float:
    """Percentage rounded to 2 places; 0 when the whole is 0."""
    return round(100.0 * part / whole, 2) if whole else 0.0


@dataclass(frozen=True, slots=True)
class RankedItem:
    key: str
    batch: dict[str, int]
    speed: dict[str, int]

    def total(self, measure: str) -> int:
        return self.batch.get(measure, 0) + self.speed.get(measure, 0)


def merge_top(
    batch_candidates: Mapping[str, Mapping[str, int]],
    speed: Mapping[str, Mapping[str, int]],
    measure: str,
    limit: int,
) -> list[RankedItem]:
    """Exact top ``limit`` by ``measure`` over batch + speed.

    Exactness rests on the candidate set the caller fetched: every key with a
    speed part (``S``), with its batch totals, plus the batch top ``limit``
    of the keys outside ``S`` (or any superset, e.g. the batch top
    ``limit + |S|``).  The merged top-k is a subset of ``S`` plus the batch
    top-k of keys outside ``S``, whose merged value equals their batch value.  Ties
    break by key so the order is stable across layers.
    """
    keys = set(batch_candidates) | set(speed)
    items = [RankedItem(k, dict(batch_candidates.get(k, {})), dict(speed.get(k, {}))) for k in keys]
    items.sort(key=lambda item: (-item.total(measure), item.key))
    return items[:limit]


def month_cover(start: date, end: date) -> tuple[tuple[date, date] | None, list[tuple[date, date]]]:
    """Split ``[start, end]`` into whole months and leftover day ranges.

    Returns ``((first_month, last_month), [(day_start, day_end), ...])`` so a
    long range reads monthly aggregates for the whole months and daily ones
    only for the ragged edges (at most two short ranges).
    """
    first_full = start if start.day == 1 else (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    after_end = end + timedelta(days=1)
    last_full_end = after_end.replace(day=1) - timedelta(days=1)  # last day of the last whole month
    if first_full > last_full_end:
        return None, [(start, end)]
    edges: list[tuple[date, date]] = []
    if start < first_full:
        edges.append((start, first_full - timedelta(days=1)))
    if last_full_end < end:
        edges.append((last_full_end + timedelta(days=1), end))
    return (first_full, last_full_end.replace(day=1)), edges


def growth_pct(current: int, previous: int | None) -> float | None:
    """Period-over-period growth in percent; ``None`` without a positive base."""
    if previous is None or previous <= 0:
        return None
    return round(100.0 * (current - previous) / previous, 2)
