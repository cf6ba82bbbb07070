"""Reader of the speed-layer views in Redis (the keys of docs/CONTRACTS.md).

The consumer owns these keys; the web app only reads them.  Every key name
comes from :class:`salespulse.names.Names`, so a per-run prefix isolates
tests exactly as it isolates deployments.  Reads for many days go through one
pipeline (one round trip), which keeps the speed part of an answer in the
low milliseconds.  :class:`ReadAhead` does the same reads ahead on the
asyncio client for the async serving path (:mod:`api.serving`) and answers
them through the same methods (:class:`SpeedSnapshot`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

import orjson
import redis
import redis.asyncio
from django.conf import settings

from api import localcache
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


def sum_zsets(replies: Iterable[list[tuple[str, float]]]) -> dict[str, int]:
    """Per-member sum of several ``ZRANGE .. WITHSCORES`` replies."""
    out: dict[str, int] = {}
    for members in replies:
        for member, score in members:
            out[member] = out.get(member, 0) + round(score)
    return out


def parse_consumer_stats(raw: dict[str, str]) -> dict[str, Any]:
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


def parse_marker_values(wm: str | None, run: str | None) -> tuple[date | None, str | None]:
    return (date.fromisoformat(wm) if wm else None), (run or None)


class SpeedViews:
    """Typed reads of the speed views."""

    def __init__(self, conn: redis.Redis | None = None, key_names: Names | None = None):
        self.r = conn or client()
        self.n = key_names or names()

    # -- batch/publish markers ---------------------------------------------
    def markers(self) -> tuple[date | None, str | None]:
        """``(watermark, latest published batch run id)`` in one round trip."""
        return parse_marker_values(*self.r.mget(*self.marker_keys()))

    def marker_keys(self) -> tuple[str, str]:
        return self.n.key("watermark"), self.n.key("batch", "latest")

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
        return sum_zsets(pipe.execute())

    def ranked(
        self,
        kind: str,
        measure: str,
        days: list[date],
        top: dict[str, int],
        floor: int,
        complete: bool,
        limit: int,
    ) -> dict[str, Totals]:
        """Speed totals (revenue_cents, units) of the keys that can reach a merged top ``limit``.

        ``top`` is the batch top of the range by ``measure`` (key -> batch value), ``floor``
        the highest batch value any other key can have (0 when ``complete``: no other key has
        batch rows).  Answered in Redis by :data:`RANKED_SPEED` (see there) in one call, so the
        cost follows the candidates, not the size of the sorted sets.  Keys without a speed
        part are left out.
        """
        other = "units" if measure == "revenue_cents" else "revenue"
        mine = "revenue" if measure == "revenue_cents" else "units"
        keys = [self.n.day_key(f"{kind}:{mine}", d.isoformat()) for d in days]
        keys += [self.n.day_key(f"{kind}:{other}", d.isoformat()) for d in days]
        args: list[Any] = [limit, floor, int(complete)]
        for key, value in top.items():
            args += [key, value]
        out: dict[str, Totals] = {}
        flat = _ranked_script(self.r)(keys=keys, args=args)
        for i in range(0, len(flat), 3):
            mine_total, other_total = int(flat[i + 1]), int(flat[i + 2])
            out[flat[i]] = {
                "revenue_cents": mine_total if mine == "revenue" else other_total,
                "units": mine_total if mine == "units" else other_total,
            }
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
        return parse_consumer_stats(self.r.hgetall(self.n.key("stats", "consumer")))

    def late_events(self) -> int:
        return _int(self.r.get(self.n.key("stats", "late_events")))


def _minute_label(epoch: int) -> str:
    """Epoch seconds -> ``YYYY-MM-DDTHH:MM`` (UTC), the minute keys' suffix."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M")


#: Day views stored as sorted sets (the others are hashes).
ZSET_VIEWS = ("book:revenue", "book:units", "customer:revenue", "customer:units")

#: The candidates of an exact merged top ``limit`` from per-day sorted sets, in Redis.
#: KEYS: the ranking measure's sets of the speed days, then the other measure's, same days.
#: ARGV: limit, floor, complete (0/1), then key, batch value of each key of the batch top.
#: theta = the limit-th best merged value (batch + speed) among the batch top's keys; any
#: other key has batch <= floor, so it can only reach theta if its speed sum does reach
#: theta - floor, which needs, on some day d, a score >= theta - floor - (sum over the other
#: days of max(0, their best score)): one ZRANGEBYSCORE per day.  Without theta (fewer than
#: limit keys in the batch top, so every batch key is there), a single day's best
#: ``limit + #top`` members suffice; several days fall back to every member.  Returns
#: key, ranking-measure sum, other-measure sum for the batch top's keys that have a speed
#: part and every candidate.
RANKED_SPEED = """
local n = #KEYS / 2
local limit, floor, complete = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'
local top, batch = {}, {}
for i = 4, #ARGV, 2 do top[#top + 1] = ARGV[i]; batch[#batch + 1] = tonumber(ARGV[i + 1]) end
local function total(key, first)
  local sum, found = 0, false
  for d = first, first + n - 1 do
    local v = redis.call('ZSCORE', KEYS[d], key)
    if v then sum = sum + tonumber(v); found = true end
  end
  return sum, found
end
local candidates = {}
if #top >= limit then
  local merged = {}
  for i, key in ipairs(top) do merged[i] = batch[i] + total(key, 1) end
  table.sort(merged, function(a, b) return a > b end)
  local theta = merged[limit]
  local best, sum_best = {}, 0
  for d = 1, n do
    local t = redis.call('ZREVRANGE', KEYS[d], 0, 0, 'WITHSCORES')
    local b = t[2] and tonumber(t[2]) or 0
    if b < 0 then b = 0 end
    best[d] = b; sum_best = sum_best + b
  end
  for d = 1, n do
    local need = theta - floor - (sum_best - best[d])
    for _, key in ipairs(redis.call('ZRANGEBYSCORE', KEYS[d], string.format('%.17g', need), '+inf')) do
      candidates[key] = true
    end
  end
elseif complete and n == 1 then
  for _, key in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, limit + #top - 1)) do candidates[key] = true end
else
  for d = 1, n do
    for _, key in ipairs(redis.call('ZRANGE', KEYS[d], 0, -1)) do candidates[key] = true end
  end
end
for _, key in ipairs(top) do candidates[key] = true end
local out = {}
for key in pairs(candidates) do
  local a, found_a = total(key, 1)
  local b, found_b = total(key, n + 1)
  if found_a or found_b then
    out[#out + 1] = key; out[#out + 1] = a; out[#out + 1] = b
  end
end
return out
"""


@lru_cache(maxsize=4)
def _ranked_script(conn: redis.Redis) -> Any:
    return conn.register_script(RANKED_SPEED)


class SpeedSnapshot(SpeedViews):
    """Speed views of some days read ahead (:class:`ReadAhead`), answered like :class:`SpeedViews`.

    Asking for a view or day that was not read ahead is a programming error (a ``LookupError``),
    never a silent zero.
    """

    def __init__(self, key_names: Names, replies: dict[str, Any]):
        self.n = key_names
        self.replies = replies

    def _day(self, view: str, day: date) -> Any:
        key = self.n.day_key(view, day.isoformat())
        try:
            return self.replies[key]
        except KeyError:
            raise LookupError(f"speed view {key} was not read ahead") from None

    def day_totals(self, days: Iterable[date]) -> dict[date, Totals]:
        return {day: parse_totals(raw) for day in days if (raw := self._day("totals", day))}

    def day_member(self, view: str, days: Iterable[date]) -> dict[date, dict[str, Totals]]:
        return {day: parse_member_hash(raw) for day in days if (raw := self._day(view, day))}

    def _empty(self, view: str, days: Iterable[date]) -> bool:
        """Sorted sets are read ahead as their sizes only (they may hold many members)."""
        return all(not self._day(view, day) for day in days)

    def zset_totals(self, view: str, days: Iterable[date]) -> dict[str, int]:
        days = list(days)
        if self._empty(view, days):
            return {}
        localcache.require_io()
        return SpeedViews(client(), self.n).zset_totals(view, days)

    def ranked(
        self,
        kind: str,
        measure: str,
        days: list[date],
        top: dict[str, int],
        floor: int,
        complete: bool,
        limit: int,
    ) -> dict[str, Totals]:
        if self._empty(f"{kind}:revenue", days) and self._empty(f"{kind}:units", days):
            return {}
        localcache.require_io()
        return SpeedViews(client(), self.n).ranked(kind, measure, days, top, floor, complete, limit)


@dataclass(frozen=True)
class ReadAhead:
    """Which speed views of which days an answer will read (``views`` x ``days``)."""

    views: tuple[str, ...]
    days: list[date]

    def queue(self, pipe: Any, key_names: Names) -> list[str]:
        """Queue the reads on a pipeline (sync or asyncio); the keys, in reply order."""
        keys = []
        for view in self.views:
            for day in self.days:
                key = key_names.day_key(view, day.isoformat())
                keys.append(key)
                if view in ZSET_VIEWS:
                    pipe.zcard(key)
                else:
                    pipe.hgetall(key)
        return keys

    async def read(self, conn: redis.asyncio.Redis, key_names: Names) -> SpeedSnapshot:
        """The reads in one pipelined round trip of their own."""
        pipe = conn.pipeline(transaction=False)
        keys = self.queue(pipe, key_names)
        replies = await pipe.execute() if keys else []
        return SpeedSnapshot(key_names, dict(zip(keys, replies, strict=True)))
