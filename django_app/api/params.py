"""Query-parameter validation for the analytics API.

One parser for every endpoint so ``days``, ``start``/``end``, ``interval``,
``limit`` and the filters mean the same everywhere, and every bad value is
reported with the parameter's name (the API answers 400 with it).  Pure: the
caller passes "today", so tests need no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from salespulse.reference import CHANNELS, GENRES, REGIONS, UNKNOWN

#: Longest range one request may ask for (five years and change).
MAX_DAYS = 3660
MAX_LIMIT = 100
INTERVALS = ("day", "week", "month")
FILTERS = ("region", "genre", "channel")
FILTER_CHOICES: dict[str, tuple[str, ...]] = {
    "region": (*(r.code for r in REGIONS), UNKNOWN),
    "genre": (*GENRES, UNKNOWN),
    "channel": (*(c.code for c in CHANNELS), UNKNOWN),
}


class ParamError(ValueError):
    """A query parameter with a bad value; ``param`` names it."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


@dataclass(frozen=True, slots=True)
class AnalyticsQuery:
    """A validated request: an inclusive date range plus options."""

    start: date
    end: date
    interval: str = "day"
    limit: int = 10
    by: str = "revenue"
    filters: dict[str, str] = field(default_factory=dict)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def filter(self) -> tuple[str, str] | None:
        """The one dimension filter, if any, as ``(dimension, value)``."""
        return next(iter(self.filters.items()), None)

    def cache_token(self) -> str:
        parts = [self.start.isoformat(), self.end.isoformat(), self.interval, str(self.limit), self.by]
        parts += [f"{k}={v}" for k, v in sorted(self.filters.items())]
        return "|".join(parts)


def _int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ParamError(name, f"must be an integer, got {raw[:40]!r}") from None
    if not low <= value <= high:
        raise ParamError(name, f"must be between {low} and {high}, got {value}")
    return value


def _date(params: Mapping[str, str], name: str) -> date | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ParamError(name, f"must be a date YYYY-MM-DD, got {raw[:40]!r}") from None


def _choice(params: Mapping[str, str], name: str, choices: Iterable[str], default: str) -> str:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    allowed = tuple(choices)
    if raw not in allowed:
        raise ParamError(name, f"must be one of {', '.join(allowed)}; got {raw[:40]!r}")
    return raw


def parse_query(
    params: Mapping[str, str],
    *,
    today: date,
    default_days: int = 30,
    filters: Iterable[str] = (),
    by_choices: Iterable[str] = ("revenue",),
    default_limit: int = 10,
) -> AnalyticsQuery:
    """Validate ``params`` for an endpoint that accepts ``filters`` and ``by_choices``.

    Range rules: ``start`` and ``end`` (inclusive) win; ``days`` counts back
    from ``end`` (default today).  ``days`` together with both dates is
    ambiguous and rejected.
    """
    days = _int(params, "days", default_days, 1, MAX_DAYS)
    start, end = _date(params, "start"), _date(params, "end")
    if start is not None and end is not None and params.get("days"):
        raise ParamError("days", "cannot be combined with both start and end")
    end = end or today
    if start is None:
        start = end - timedelta(days=days - 1)
    if start > end:
        raise ParamError("start", f"must not be after end ({end.isoformat()})")
    if (end - start).days + 1 > MAX_DAYS:
        raise ParamError("start", f"range longer than {MAX_DAYS} days")
    interval = _choice(params, "interval", INTERVALS, "day")
    limit = _int(params, "limit", default_limit, 1, MAX_LIMIT)
    by_allowed = tuple(by_choices)
    by = _choice(params, "by", by_allowed, by_allowed[0])
    allowed = set(filters)
    chosen: dict[str, str] = {}
    for name in FILTERS:
        raw = params.get(name)
        if raw is None or raw == "":
            continue
        if name not in allowed:
            supported = ", ".join(sorted(allowed)) or "none"
            raise ParamError(name, f"filter not supported by this endpoint (supported: {supported})")
        chosen[name] = _choice(params, name, FILTER_CHOICES[name], "")
    if len(chosen) > 1:
        second = [n for n in FILTERS if n in chosen][1]
        raise ParamError(second, "only one of region, genre, channel may be given")
    return AnalyticsQuery(start=start, end=end, interval=interval, limit=limit, by=by, filters=chosen)
