"""The Redis sink: every view delta of a batch plus its progress markers, in one atomic script.

One ``EVALSHA`` per batch does the whole update: it first compares each
partition's progress marker with what the consumer expects (compare-and-set),
and applies nothing if any differs, so a batch is applied exactly once even
when a replay or a second consumer races it.  Then it increments the views,
moves the markers, counts late events against ``P:watermark`` and returns
the new totals of the days and minutes it touched, for the live update.

The key layout is CONTRACTS.md's, built from :class:`salespulse.names.Names`.
Every key is passed in ``KEYS`` (the JSON argument refers to them by index),
as Redis asks of scripts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson

from salespulse.events import format_event_time
from salespulse.names import Names
from salespulse.stream.aggregate import ViewDeltas
from salespulse.stream.progress import INCARNATION, NEXT_OFFSET, Marker

log = logging.getLogger(__name__)

DAY_S = 86_400
#: Day keys live until three days after their day ends (CONTRACTS.md).
DAY_TTL_AFTER_END_S = 3 * DAY_S
MINUTE_TTL_S = 3 * 3600
MINUTE_WINDOW_S = 2 * 3600
LATEST_MAX = 50

#: Lua fragments every replay-safe sink shares (this one and the funnel's), over a JSON
#: argument ``p``: ``p.cas`` = [key index, expected incarnation, expected next offset, new
#: incarnation, new next offset] per partition; ``p.h`` = [key index, expire-at, field, delta, ...].
LUA_CHECK_PROGRESS = r"""
local conflicts = {}
for _, c in ipairs(p.cas) do
  local cur = redis.call('HMGET', KEYS[c[1]], 'incarnation', 'next_offset')
  if (cur[1] or '') ~= c[2] or (cur[2] or '') ~= c[3] then
    conflicts[#conflicts + 1] = KEYS[c[1]]
  end
end
if #conflicts > 0 then return {0, conflicts} end
"""
LUA_HASH_INCREMENTS = r"""
for _, h in ipairs(p.h) do
  local k = KEYS[h[1]]
  for j = 3, #h, 2 do redis.call('HINCRBY', k, h[j], h[j + 1]) end
  redis.call('EXPIREAT', k, h[2])
end
"""
LUA_MOVE_PROGRESS = r"""
for _, c in ipairs(p.cas) do
  redis.call('HSET', KEYS[c[1]], 'incarnation', c[4], 'next_offset', c[5])
end
"""

LUA = (
    r"""
local p = cjson.decode(ARGV[1])
"""
    + LUA_CHECK_PROGRESS
    + r"""
"""
    + LUA_HASH_INCREMENTS
    + r"""for _, z in ipairs(p.z) do
  local k = KEYS[z[1]]
  for j = 3, #z, 2 do redis.call('ZINCRBY', k, z[j + 1], z[j]) end
  redis.call('EXPIREAT', k, z[2])
end

local minutes = {}
if #p.m > 0 then
  local idx = KEYS[p.mi]
  local newest = tonumber(p.mmax)
  local top = redis.call('ZREVRANGE', idx, 0, 0, 'WITHSCORES')
  if top[2] and tonumber(top[2]) > newest then newest = tonumber(top[2]) end
  local low = newest - p.mwin
  for _, m in ipairs(p.m) do
    local epoch = tonumber(m[2])
    if epoch >= low then
      local k = KEYS[m[1]]
      for j = 3, #m, 2 do redis.call('HINCRBY', k, m[j], m[j + 1]) end
      redis.call('EXPIRE', k, p.mttl)
      redis.call('ZADD', idx, m[2], m[2])
      minutes[#minutes + 1] = m[2]
      minutes[#minutes + 1] = redis.call('HGETALL', k)
    end
  end
  redis.call('ZREMRANGEBYSCORE', idx, '-inf', '(' .. string.format('%d', low))
  redis.call('EXPIRE', idx, p.mttl)
end

if #p.l > 1 then
  local k = KEYS[p.l[1]]
  for j = 2, #p.l do redis.call('LPUSH', k, p.l[j]) end
  redis.call('LTRIM', k, 0, p.lmax - 1)
end

local late = 0
local wm = redis.call('GET', KEYS[p.wm])
if wm then
  for _, d in ipairs(p.d) do
    if d[1] < wm then late = late + tonumber(d[2]) end
  end
end
if late > 0 then redis.call('INCRBY', KEYS[p.late], late) end

local st = KEYS[p.st]
redis.call('HINCRBY', st, 'events_total', p.ev)
redis.call('HINCRBY', st, 'dlq_total', p.dlq)
"""
    + LUA_MOVE_PROGRESS
    + r"""
local totals = {}
for _, ki in ipairs(p.ret) do
  totals[#totals + 1] = KEYS[ki]
  totals[#totals + 1] = redis.call('HGETALL', KEYS[ki])
end
return {1, totals, minutes, late}
"""
)


@dataclass(frozen=True, slots=True)
class ProgressUpdate:
    """Move ``partition``'s marker from ``expected`` to ``new`` (compare-and-set)."""

    partition: int
    expected: Marker
    new: Marker


@dataclass
class ApplyResult:
    applied: bool
    conflicts: list[str] = field(default_factory=list)
    day_totals: dict[str, dict[str, int]] = field(default_factory=dict)  # day -> totals after the batch
    minutes: dict[int, dict[str, int]] = field(default_factory=dict)  # minute epoch s -> values after
    late_events: int = 0


class _Keys:
    """Collects the script's KEYS, handing out 1-based indices."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def __call__(self, key: str) -> int:
        i = self.index.get(key)
        if i is None:
            i = self.index[key] = len(self.index) + 1
        return i

    @property
    def keys(self) -> list[str]:
        return list(self.index)


def progress_key(names: Names, topic: str, partition: int) -> str:
    return names.key("progress", topic, partition)


def minute_label(epoch_s: int) -> str:
    """``2026-11-25T15:35``: the minute key's suffix (UTC)."""
    return format_event_time(epoch_s * 1000)[:16]


def day_expire_at(day: str) -> int:
    """Epoch seconds three days after ``day`` ends."""
    start = (date.fromisoformat(day) - date(1970, 1, 1)).days * DAY_S
    return start + DAY_S + DAY_TTL_AFTER_END_S


def _flat(pairs: dict[str, int]) -> list[str]:
    out: list[str] = []
    for k, v in pairs.items():
        out.append(k)
        out.append(str(v))
    return out


def script_args(
    deltas: ViewDeltas,
    names: Names,
    topic: str,
    updates: list[ProgressUpdate],
    dead_letters: int,
) -> tuple[list[str], bytes]:
    """The script's KEYS and its one JSON argument (values as strings: no float rounding in Lua)."""
    k = _Keys()
    hashes: list[list[Any]] = []
    zsets: list[list[Any]] = []
    for day, totals in deltas.totals.items():
        hashes.append([k(names.day_key("totals", day)), day_expire_at(day), *_flat(totals)])
    for view, per_day in deltas.dims.items():
        for day, fields in per_day.items():
            hashes.append([k(names.day_key(view, day)), day_expire_at(day), *_flat(fields)])
    for view, per_day in (
        ("book:revenue", deltas.book_revenue),
        ("book:units", deltas.book_units),
        ("customer:revenue", deltas.customer_revenue),
        ("customer:units", deltas.customer_units),
    ):
        for day, members in per_day.items():
            zsets.append([k(names.day_key(view, day)), day_expire_at(day), *_flat(members)])
    minutes = [
        [k(names.key("minute", minute_label(epoch))), str(epoch), *_flat(values)]
        for epoch, values in sorted(deltas.minutes.items())
    ]
    latest = [orjson.dumps(o).decode() for o in reversed(deltas.latest)]  # LPUSH oldest first
    payload = {
        "cas": [
            [
                k(progress_key(names, topic, u.partition)),
                *u.expected.stored,
                u.new.incarnation,
                str(u.new.next_offset),
            ]
            for u in updates
        ],
        "h": hashes,
        "z": zsets,
        "m": minutes,
        "mi": k(names.key("minutes")),
        "mmax": str(max(deltas.minutes)) if deltas.minutes else "0",
        "mwin": MINUTE_WINDOW_S,
        "mttl": MINUTE_TTL_S,
        "l": [k(names.key("latest_orders")), *latest],
        "lmax": LATEST_MAX,
        "d": [[day, str(t["events"])] for day, t in deltas.totals.items()],
        "wm": k(names.key("watermark")),
        "late": k(names.key("stats", "late_events")),
        "st": k(names.key("stats", "consumer")),
        "ev": deltas.events,
        "dlq": dead_letters,
        "ret": [k(names.day_key("totals", day)) for day in sorted(deltas.totals)],
    }
    return k.keys, orjson.dumps(payload)


def _pairs(flat: list[Any]) -> dict[str, int]:
    return {flat[i]: int(flat[i + 1]) for i in range(0, len(flat), 2)}


def parse_result(reply: list[Any], names: Names) -> ApplyResult:
    if int(reply[0]) == 0:
        return ApplyResult(False, conflicts=list(reply[1]))
    totals_prefix = names.key("day", "")
    days = {}
    flat = reply[1]
    for i in range(0, len(flat), 2):
        day = flat[i][len(totals_prefix) :].split(":", 1)[0]
        days[day] = _pairs(flat[i + 1])
    minutes = {int(reply[2][i]): _pairs(reply[2][i + 1]) for i in range(0, len(reply[2]), 2)}
    return ApplyResult(True, day_totals=days, minutes=minutes, late_events=int(reply[3]))


class RedisSink:
    """Applies batches through the script; reads markers; writes consumer stats."""

    def __init__(self, client: Any, names: Names):
        self.client = client
        self.names = names
        self.script = client.register_script(LUA)

    def read_markers(self, topic: str, partitions: list[int]) -> dict[int, Marker]:
        pipe = self.client.pipeline(transaction=False)
        for p in partitions:
            pipe.hmget(progress_key(self.names, topic, p), INCARNATION, NEXT_OFFSET)
        return {p: Marker.from_fields(*values) for p, values in zip(partitions, pipe.execute(), strict=True)}

    def apply(
        self, deltas: ViewDeltas, topic: str, updates: list[ProgressUpdate], dead_letters: int
    ) -> ApplyResult:
        keys, arg = script_args(deltas, self.names, topic, updates, dead_letters)
        return parse_result(self.script(keys=keys, args=[arg]), self.names)

    def write_stats(self, fields: dict[str, Any]) -> None:
        self.client.hset(self.names.key("stats", "consumer"), mapping={k: str(v) for k, v in fields.items()})

    def publish(self, message: bytes) -> int:
        return int(self.client.publish(self.names.updates_channel, message))
