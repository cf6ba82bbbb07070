"""Reader of the speed-layer views in Redis (the keys of docs/CONTRACTS.md).

The consumer owns these keys; the web app only reads them.  Every key name
comes from :class:`salespulse.names.Names`, so a per-run prefix isolates
tests exactly as it isolates deployments.  Reads for many days go through one
pipeline (one round trip), which keeps the speed part of an answer in the
low milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from functools import lru_cache
from typing import Any

import orjson
import redis
from django.conf import settings

from api.merge import MEASURES, Totals
from salespulse.names import Names

DAY_MEASURES = MEASURES  # revenue_cents, orders, units, events, refunds
MEMBER_MEASURES = ("revenue_cents", "orders", "units", "events")
MINUTE_MEASURES = ("revenue_cents", "orders", "units", "events")


@lru_cache(maxsize=1)
def client() -> redis.Redis:
    """One connection pool per process (thread-safe)."""
    return redis.Redis.from_url(settings.REDIS_URL, decode_responses=True, health_check_interval=30)


@lru_cache(maxsize=1)
def names() -> Names:
    return Names.from_settings()


def _int(value: Any) -> int:
    if value is None or value == "":
        return 0
    return int(float(value)) if isinstance(value, str) and "." in value else int(value)


def parse_totals(raw: dict[str, str], measures: Iterable[str] = DAY_MEASURES) -> Totals:
    return {m: _int(raw.get(m)) for m in measures}


def parse_member_hash(raw: dict[str, str]) -> dict[str, Totals]:
    """``{member}:{measure}`` fields -> ``{member: {measure: n}}`` (members may contain ':')."""
    out: dict[str, Totals] = {}
    for field, value in raw.items():
        member, _, measure = field.rpartition(":")
        if measure in MEMBER_MEASURES and member:
            out.setdefault(member, dict.fromkeys(MEMBER_MEASURES, 0))[measure] = _int(value)
    return out


class SpeedViews:
    """Typed reads of the speed views."""

    def __init__(self, conn: redis.Redis | None = None, key_names: Names | None = None):
        self.r = conn or client()
        self.n = key_names or names()

    # -- batch/publish markers ---------------------------------------------
    def markers(self) -> tuple[date | None, str | None]:
        """``(watermark, latest published batch run id)`` in one round trip."""
        wm, run = self.r.mget(self.n.key("watermark"), self.n.key("batch", "latest"))
        return (date.fromisoformat(wm) if wm else None), (run or None)

    # -- per-day views -------------------------------------------------------
    def day_totals(self, days: Iterable[date]) -> dict[date, Totals]:
        """Totals of each day that has a totals hash (missing days are left out)."""
        days = list(days)
        pipe = self.r.pipeline(transaction=False)
        for day in days:
            pipe.hgetall(self.n.day_key("totals", day.isoformat()))
        return {day: parse_totals(raw) for day, raw in zip(days, pipe.execute(), strict=True) if raw}

    def day_member(self, view: str, days: Iterable[date]) -> dict[date, dict[str, Totals]]:
        """Per-day, per-member totals of ``view`` (region, genre or channel)."""
        days = list(days)
        pipe = self.r.pipeline(transaction=False)
        for day in days:
            pipe.hgetall(self.n.day_key(view, day.isoformat()))
        return {day: parse_member_hash(raw) for day, raw in zip(days, pipe.execute(), strict=True) if raw}

    def member_totals(self, view: str, days: Iterable[date]) -> dict[str, Totals]:
        """Per-member totals of ``view`` summed over ``days``."""
        out: dict[str, Totals] = {}
        for per_member in self.day_member(view, days).values():
            for member, totals in per_member.items():
                acc = out.setdefault(member, dict.fromkeys(MEMBER_MEASURES, 0))
                for m in MEMBER_MEASURES:
                    acc[m] = (acc[m] or 0) + (totals.get(m) or 0)
        return out

    def zset_totals(self, view: str, days: Iterable[date]) -> dict[str, int]:
        """Sum of a per-day sorted set (e.g. ``book:revenue``) over ``days``, every member."""
        days = list(days)
        pipe = self.r.pipeline(transaction=False)
        for day in days:
            pipe.zrange(self.n.day_key(view, day.isoformat()), 0, -1, withscores=True)
        out: dict[str, int] = {}
        for members in pipe.execute():
            for member, score in members:
                out[member] = out.get(member, 0) + round(score)
        return out

    def speed_days(self) -> list[date]:
        """Days that currently have a totals hash (for the pipeline page)."""
        pattern = self.n.key("day", "*", "totals")
        found = {key.split(":")[-2] for key in self.r.scan_iter(pattern, count=500)}
        return sorted(date.fromisoformat(d) for d in found)

    # -- live views ------------------------------------------------------------
    def minutes(self, count: int = 120) -> list[dict[str, Any]]:
        """The newest ``count`` live minutes, oldest first."""
        index = self.r.zrevrange(self.n.key("minutes"), 0, count - 1, withscores=True)
        epochs = sorted(int(score) for _, score in index)
        pipe = self.r.pipeline(transaction=False)
        labels = []
        for epoch in epochs:
            label = _minute_label(epoch)
            labels.append(label)
            pipe.hgetall(self.n.key("minute", label))
        out = []
        for label, raw in zip(labels, pipe.execute(), strict=True):
            if raw:
                # Same form as the consumer's update messages (ISO, ms, Z).
                out.append({"minute": f"{label}:00.000Z", **parse_totals(raw, MINUTE_MEASURES)})
        return out

    def latest_orders(self, count: int = 50) -> list[dict[str, Any]]:
        return [orjson.loads(item) for item in self.r.lrange(self.n.key("latest_orders"), 0, count - 1)]

    def consumer_stats(self) -> dict[str, Any]:
        raw = self.r.hgetall(self.n.key("stats", "consumer"))
        lag = {k.split(":", 1)[1]: _int(v) for k, v in raw.items() if k.startswith("lag:")}
        out: dict[str, Any] = {k: v for k, v in raw.items() if not k.startswith("lag:")}
        for key in ("lag_total", "events_total", "dlq_total"):
            if key in out:
                out[key] = _int(out[key])
        for key in ("events_per_s", "batch_latency_ms"):
            if key in out:
                out[key] = float(out[key])
        out["lag"] = lag
        return out

    def late_events(self) -> int:
        return _int(self.r.get(self.n.key("stats", "late_events")))


def _minute_label(epoch: int) -> str:
    """Epoch seconds -> ``YYYY-MM-DDTHH:MM`` (UTC), the minute keys' suffix."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M")
