"""The threshold-algorithm top-k (api.ranking) equals a brute-force ranking, refunds included."""

from __future__ import annotations

import random
from datetime import date

import pytest
from api.merge import DateRange
from api.ranking import PeriodTop, exact_top, periods

RNG = DateRange(date(2025, 1, 17), date(2025, 6, 3))


def _data(seed: int, skew: float) -> dict[tuple[str, date], dict[str, int]]:
    """Per-period values of 400 keys, Zipf-like with ``skew`` (0 = flat), some negative (refunds)."""
    rnd = random.Random(seed)
    data: dict[tuple[str, date], dict[str, int]] = {}
    for period in periods(RNG):
        values = {}
        for i in range(400):
            if rnd.random() < 0.5:
                values[f"k{i:03d}"] = int(rnd.randint(-50, 1000) / (1 + i) ** skew)
        data[period] = values
    return data


@pytest.mark.parametrize(("seed", "skew", "limit"), [(1, 1.2, 10), (2, 0.0, 10), (3, 0.6, 3), (4, 1.0, 50)])
def test_exact_top_matches_brute_force(seed: int, skew: float, limit: int) -> None:
    data = _data(seed, skew)
    totals: dict[str, int] = {}
    for values in data.values():
        for k, v in values.items():
            totals[k] = totals.get(k, 0) + v
    include = {"k007", "k300"}
    full_calls = []

    def tops(spans: list[tuple[str, date]], depth: int) -> dict[tuple[str, date], PeriodTop]:
        out = {}
        for p in spans:
            rows = sorted(data[p].items(), key=lambda kv: (-kv[1], kv[0]))[:depth]
            out[p] = PeriodTop(rows, complete=len(rows) < depth)
        return out

    def full() -> dict[str, dict[str, int | None]]:
        full_calls.append(1)
        ranked = sorted((k for k in totals if k not in include), key=lambda k: (-totals[k], k))[:limit]
        return {k: {"revenue_cents": totals[k]} for k in [*ranked, *include] if k in totals}

    got = exact_top(
        RNG,
        "revenue_cents",
        limit,
        include,
        fetch_tops=tops,
        fetch_totals=lambda keys: {k: {"revenue_cents": totals[k]} for k in keys if k in totals},
        fetch_full=full,
    )
    want = sorted((k for k in totals if k not in include), key=lambda k: (-totals[k], k))[:limit]
    assert sorted((k for k in got if k not in include), key=lambda k: (-totals[k], k)) == want
    assert all(got[k]["revenue_cents"] == totals[k] for k in got)
    assert include <= set(got)


def test_periods_cover_the_range_once() -> None:
    days = [d for g, p in periods(RNG) for d in (DateRange(p, _month_end(p)) if g == "month" else [p])]
    assert sorted(days) == list(RNG)


def _month_end(first: date) -> date:
    nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return date.fromordinal(nxt.toordinal() - 1)
