"""What a publish tells the speed layer (Redis), per docs/CONTRACTS.md.

``P:watermark`` and ``P:batch:latest`` are set, ``batch_published`` is
announced on the updates channel (the web app drops its cache), and day keys
older than the watermark are deleted: those days are now served from
PostgreSQL.  All of it is idempotent, so a run killed between the database
commit and these writes is repaired by ``salespulse trim-speed`` or the next
publish.
"""

from __future__ import annotations

import json
import logging
from datetime import date

import redis

from salespulse import services
from salespulse.names import Names
from salespulse.settings import Settings

log = logging.getLogger(__name__)


def client(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(services.urls(settings).redis, decode_responses=True)


def day_of_key(key: str, prefix: str) -> date | None:
    """``P:day:2026-01-02:totals`` -> 2026-01-02 (None for anything else)."""
    head = f"{prefix}:day:"
    if not key.startswith(head):
        return None
    try:
        return date.fromisoformat(key[len(head) :].split(":", 1)[0])
    except ValueError:
        return None


def trim(r: redis.Redis, names: Names, watermark: date) -> int:
    """Delete speed-layer day keys of days before ``watermark``; returns how many."""
    doomed = [
        k
        for k in r.scan_iter(match=names.key("day", "*"), count=1000)
        if (d := day_of_key(k, names.redis_prefix)) is not None and d < watermark
    ]
    for i in range(0, len(doomed), 500):
        r.delete(*doomed[i : i + 500])
    return len(doomed)


def announce(settings: Settings, run_id: str, watermark: date) -> int:
    """Set watermark and latest run, publish ``batch_published``, trim old day keys."""
    names = Names.from_settings(settings)
    r = client(settings)
    try:
        with r.pipeline(transaction=True) as pipe:
            pipe.set(names.key("watermark"), watermark.isoformat())
            pipe.set(names.key("batch", "latest"), run_id)
            message = {"type": "batch_published", "run_id": run_id, "watermark": watermark.isoformat()}
            pipe.publish(names.updates_channel, json.dumps(message))
            pipe.execute()
        trimmed = trim(r, names, watermark)
    finally:
        r.close()
    log.info("speed layer: watermark %s, latest run %s, %d old day keys trimmed", watermark, run_id, trimmed)
    return trimmed
