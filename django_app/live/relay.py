"""Relay: the consumer's Redis update channel -> the Channels live group.

The stream consumer publishes each live update once on ``P:updates``
(docs/CONTRACTS.md); this loop re-sends it to every connected browser through
the channel layer's group (with ``RedisPubSubChannelLayer`` one more PUBLISH,
whatever the number of clients).  It reconnects on its own when Redis goes
away; browsers resync with a snapshot when they reconnect, so nothing that
was missed while the relay was down stays missing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import redis.asyncio as aioredis
from channels.layers import get_channel_layer
from django.conf import settings

from salespulse.names import Names

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 5.0


async def relay_messages(
    conn: aioredis.Redis,
    layer: Any,
    channel: str,
    group: str,
    stop: asyncio.Event,
    ready: asyncio.Event | None = None,
) -> int:
    """Forward messages until ``stop`` is set; returns how many were forwarded."""
    forwarded = 0
    pubsub = conn.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel)
    if ready is not None:
        ready.set()
    try:
        while not stop.is_set():
            message = await pubsub.get_message(timeout=0.5)
            if message is None:
                continue
            data = message["data"]
            text = data.decode() if isinstance(data, bytes) else str(data)
            await layer.group_send(group, {"type": "live.update", "text": text})
            forwarded += 1
    finally:
        await pubsub.aclose()
    return forwarded


async def run_relay(stop: asyncio.Event | None = None, ready: asyncio.Event | None = None) -> None:
    """Relay forever (or until ``stop``), reconnecting with backoff."""
    stop = stop or asyncio.Event()
    names = Names.from_settings()
    layer = get_channel_layer()
    backoff = 0.2
    log.info("relaying %s -> Channels group %s", names.updates_channel, names.live_group)
    while not stop.is_set():
        conn = aioredis.Redis.from_url(settings.REDIS_URL)
        started = time.monotonic()
        try:
            count = await relay_messages(conn, layer, names.updates_channel, names.live_group, stop, ready)
            log.info("relay stopped after %d messages", count)
        except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as exc:
            if time.monotonic() - started > 10:
                backoff = 0.2
            log.warning("relay lost Redis (%s); reconnecting in %.1fs", exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
        finally:
            await conn.aclose()
