"""Exact top-k over long ranges with a bound check (the threshold algorithm).

Summing per-book monthly totals over five years and sorting them takes
seconds (2.3M rows grouped by 400K books).  But sales are heavily skewed, so
the top books of a long range are almost always near the top of the single
periods it spans.  This module reads, for each period of the range (whole
months from the monthly aggregate, edge days from the daily one), only its
``depth`` best keys, and proves the answer exact before returning it:

* candidates = every key seen in some period's list (plus the keys the caller
  must include), with their *exact* totals over the range (index lookups);
* any key never seen is, in every period, at most that period's last listed
  value (or absent, i.e. 0; a period listed in full adds nothing), so its
  range total is at most ``bound`` = the sum of those values;
* if the k-th best candidate is strictly above ``bound``, no unseen key can
  enter the top k (or tie with it), so the candidates' top k is the exact
  answer.  Otherwise the lists are deepened and, past a cap, the plain
  aggregation query answers instead.

Per-period lists never change within a published batch run, so the caller
caches them under the run (a publish invalidates them with everything else).
Nothing here is approximate: each returned total is a ``SUM`` over the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from api.merge import DateRange, Totals, month_cover

#: First list depth, growth factor and cap before falling back to the full aggregation.
START_DEPTH = 50
GROWTH = 4
MAX_DEPTH = 3200


@dataclass(frozen=True, slots=True)
class RankSource:
    """One ranked fact: daily and monthly aggregate tables keyed by ``key``."""

    daily: str
    monthly: str
    key: str
    measures: tuple[str, str] = ("revenue_cents", "units")


@dataclass(frozen=True, slots=True)
class PeriodTop:
    """The best ``depth`` (key, value) of one period, best first; ``complete`` if that is all of it."""

    rows: list[tuple[str, int]]
    complete: bool

    def bound(self) -> int:
        """Most an unlisted key can have in this period (absent keys have 0)."""
        if self.complete or not self.rows:
            return 0
        return max(self.rows[-1][1], 0)


#: ``(grain, period)`` with grain "month" (period = first day) or "day".
Period = tuple[str, date]
#: Fetches the lists of several periods at one depth (cached by the caller).
TopsFetcher = Callable[[list[Period], int], dict[Period, PeriodTop]]
#: Exact totals of given keys over the range.
TotalsFetcher = Callable[[list[str]], dict[str, Totals]]
#: The plain aggregation: top ``limit`` keys outside ``exclude`` plus ``include``.
FullFetcher = Callable[[], dict[str, Totals]]


def periods(rng: DateRange) -> list[Period]:
    """Whole months, then the edge days, covering ``rng`` exactly once."""
    months, edges = month_cover(rng.start, rng.end)
    out: list[Period] = []
    if months is not None:
        month = months[0]
        while month <= months[1]:
            out.append(("month", month))
            month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    for lo, hi in edges:
        out += [("day", d) for d in DateRange(lo, hi)]
    return out


def _rank_key(order: str) -> Callable[[tuple[str, Totals]], tuple[int, str]]:
    return lambda kv: (-int(kv[1].get(order) or 0), kv[0])


def exact_top(
    rng: DateRange,
    order: str,
    limit: int,
    include: Iterable[str],
    *,
    fetch_tops: TopsFetcher,
    fetch_totals: TotalsFetcher,
    fetch_full: FullFetcher,
    allowed: Callable[[list[str]], set[str]] | None = None,
) -> dict[str, Totals]:
    """Top ``limit`` keys by ``order`` *outside* ``include``, plus every key of ``include``.

    ``allowed`` narrows candidates (e.g. to a genre) when the lists are not
    already restricted; the bound stays valid because it covers every key.
    """
    include = set(include)
    spans = periods(rng)
    depth = START_DEPTH
    while depth <= MAX_DEPTH:
        tops = fetch_tops(spans, depth)
        bound = sum(top.bound() for top in tops.values())
        seen = {k for top in tops.values() for k, _ in top.rows}
        if allowed is not None:
            seen &= allowed(sorted(seen))
        totals = fetch_totals(sorted(seen | include))
        ranked = sorted(((k, t) for k, t in totals.items() if k not in include), key=_rank_key(order))
        everything = all(top.complete for top in tops.values())
        if everything or (len(ranked) >= limit and int(ranked[limit - 1][1].get(order) or 0) > bound):
            out = dict(ranked[:limit])
            out.update({k: totals[k] for k in include if k in totals})
            return out
        depth *= GROWTH
    return fetch_full()


def parse_tops(rows: Sequence[Sequence[Any]], spans: list[Period], depth: int) -> dict[Period, PeriodTop]:
    """``(grain, period, key, value)`` rows (best first per period) -> one :class:`PeriodTop` each."""
    lists: dict[Period, list[tuple[str, int]]] = {p: [] for p in spans}
    for grain, period, key, value in rows:
        lists[(grain, period)].append((key, int(value or 0)))
    return {p: PeriodTop(rows, complete=len(rows) < depth) for p, rows in lists.items()}
