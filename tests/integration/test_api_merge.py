"""The serving rules as pure functions: range split, buckets, exact top-k, month cover, params."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from api.merge import (
    DateRange,
    bucket_start,
    bucket_starts,
    growth_pct,
    merge_series,
    merge_top,
    month_cover,
    split_range,
)
from api.params import ParamError, parse_query

W = date(2026, 3, 10)


@pytest.mark.parametrize(
    ("start", "end", "batch", "speed"),
    [
        (date(2026, 3, 1), date(2026, 3, 9), (date(2026, 3, 1), date(2026, 3, 9)), None),
        (date(2026, 3, 1), date(2026, 3, 10), (date(2026, 3, 1), date(2026, 3, 9)), (W, W)),
        (W, date(2026, 3, 12), None, (W, date(2026, 3, 12))),
        (date(2026, 3, 9), date(2026, 3, 9), (date(2026, 3, 9), date(2026, 3, 9)), None),
    ],
)
def test_split_never_reads_a_day_twice(
    start: date, end: date, batch: tuple | None, speed: tuple | None
) -> None:
    split = split_range(start, end, W)
    assert (split.batch and (split.batch.start, split.batch.end)) == batch
    assert (split.speed and (split.speed.start, split.speed.end)) == speed
    days = list(split.batch or []) + list(split.speed or [])
    assert days == list(DateRange(start, end))


def test_split_without_watermark_is_all_speed() -> None:
    split = split_range(date(2026, 1, 1), date(2026, 1, 5), None)
    assert split.batch is None and split.speed == DateRange(date(2026, 1, 1), date(2026, 1, 5))


def test_buckets() -> None:
    assert bucket_start(date(2026, 3, 12), "week") == date(2026, 3, 9)  # Thursday -> Monday
    assert bucket_start(date(2026, 3, 12), "month") == date(2026, 3, 1)
    assert bucket_starts(date(2026, 1, 30), date(2026, 3, 2), "month") == [
        date(2026, 1, 1),
        date(2026, 2, 1),
        date(2026, 3, 1),
    ]
    assert len(bucket_starts(date(2026, 1, 1), date(2026, 1, 31), "day")) == 31


def test_merge_series_adds_the_parts_of_a_straddling_bucket() -> None:
    batch = {date(2026, 3, 9): {"revenue_cents": 100, "orders": 1, "units": 1, "events": 1, "refunds": 0}}
    speed = {W: {"revenue_cents": 5, "orders": 1, "units": 2, "events": 1, "refunds": 1}}
    series = merge_series(date(2026, 3, 9), date(2026, 3, 16), "week", batch, speed)
    assert series == [
        {"period": "2026-03-09", "revenue_cents": 105, "orders": 2, "units": 3, "events": 2, "refunds": 1},
        {"period": "2026-03-16", "revenue_cents": 0, "orders": 0, "units": 0, "events": 0, "refunds": 0},
    ]


def test_merge_top_is_exact_against_brute_force() -> None:
    rng = random.Random(3)
    for _ in range(200):
        keys = [f"k{i:02d}" for i in range(30)]
        batch_all = {k: {"revenue_cents": rng.randint(0, 50)} for k in keys if rng.random() < 0.8}
        speed = {k: {"revenue_cents": rng.randint(-5, 40)} for k in keys if rng.random() < 0.3}
        limit = rng.randint(1, 8)
        # What the selector fetches: batch top (limit + |S|) plus every key of S.
        ranked = sorted(batch_all.items(), key=lambda kv: (-kv[1]["revenue_cents"], kv[0]))
        cands = dict(ranked[: limit + len(speed)])
        cands.update({k: batch_all[k] for k in speed if k in batch_all})
        got = [(i.key, i.total("revenue_cents")) for i in merge_top(cands, speed, "revenue_cents", limit)]
        full = {
            k: batch_all.get(k, {}).get("revenue_cents", 0) + speed.get(k, {}).get("revenue_cents", 0)
            for k in set(batch_all) | set(speed)
        }
        assert got == sorted(full.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


@pytest.mark.parametrize(
    ("start", "end", "months", "edges"),
    [
        (date(2026, 1, 1), date(2026, 1, 31), (date(2026, 1, 1), date(2026, 1, 1)), []),
        (
            date(2026, 1, 15),
            date(2026, 3, 10),
            (date(2026, 2, 1), date(2026, 2, 1)),
            [(date(2026, 1, 15), date(2026, 1, 31)), (date(2026, 3, 1), date(2026, 3, 10))],
        ),
        (date(2026, 1, 15), date(2026, 1, 20), None, [(date(2026, 1, 15), date(2026, 1, 20))]),
        (date(2024, 2, 1), date(2026, 2, 28), (date(2024, 2, 1), date(2026, 2, 1)), []),
    ],
)
def test_month_cover(start: date, end: date, months: tuple | None, edges: list) -> None:
    assert month_cover(start, end) == (months, edges)
    covered = []
    if months:
        m = months[0]
        while m <= months[1]:
            nxt = (m.replace(day=28) + timedelta(days=4)).replace(day=1)
            covered += list(DateRange(m, nxt - timedelta(days=1)))
            m = nxt
    for lo, hi in edges:
        covered += list(DateRange(lo, hi))
    assert sorted(covered) == list(DateRange(start, end))


def test_growth() -> None:
    assert growth_pct(150, 100) == 50.0
    assert growth_pct(5, 0) is None and growth_pct(5, None) is None


def test_parse_query_defaults_and_ranges() -> None:
    today = date(2026, 3, 10)
    q = parse_query({}, today=today)
    assert (q.start, q.end, q.days) == (date(2026, 2, 9), today, 30)
    q = parse_query({"days": "7", "end": "2026-03-01"}, today=today)
    assert (q.start, q.end) == (date(2026, 2, 23), date(2026, 3, 1))
    q = parse_query(
        {"genre": "Fiction", "by": "units"}, today=today, filters=("genre",), by_choices=("revenue", "units")
    )
    assert q.filter() == ("genre", "Fiction") and q.by == "units"
    with pytest.raises(ParamError) as err:
        parse_query({"limit": "101"}, today=today)
    assert err.value.param == "limit"
