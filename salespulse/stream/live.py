"""Live updates: what changed since the last message, at most one message per 250 ms.

Batches can be applied far more often than browsers want to redraw, so the
consumer merges each applied batch into a pending update and publishes it
when the interval has passed.  Values are the totals *after* the batch (as
returned by the atomic script), so a client can overwrite instead of add
and a lost message heals with the next one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from salespulse.events import format_event_time
from salespulse.stream.redis_sink import ApplyResult

MIN_INTERVAL_MS = 250
MAX_LATEST = 50


@dataclass
class LiveUpdates:
    """Pending changes and the throttle; pure (the caller passes the clock)."""

    interval_ms: int = MIN_INTERVAL_MS
    last_published_ms: int | None = None
    days: dict[str, dict[str, int]] = field(default_factory=dict)
    minutes: dict[int, dict[str, int]] = field(default_factory=dict)
    latest: list[dict[str, Any]] = field(default_factory=list)  # newest first
    max_event_time_ms: int | None = None

    @property
    def pending(self) -> bool:
        return self.max_event_time_ms is not None

    def add(self, result: ApplyResult, latest: list[dict[str, Any]], max_event_time_ms: int | None) -> None:
        """Merge one applied batch (its post-batch totals and new latest orders)."""
        self.days.update(result.day_totals)
        self.minutes.update(result.minutes)
        if latest:
            self.latest = (latest + self.latest)[:MAX_LATEST]
        if max_event_time_ms is not None:
            self.max_event_time_ms = max(self.max_event_time_ms or max_event_time_ms, max_event_time_ms)

    def due(self, now_ms: int) -> bool:
        if not self.pending:
            return False
        return self.last_published_ms is None or now_ms - self.last_published_ms >= self.interval_ms

    def take(self, now_ms: int) -> bytes:
        """The JSON message (CONTRACTS.md) for everything pending; clears it."""
        message = {
            "type": "update",
            "max_event_time": format_event_time(self.max_event_time_ms or 0),
            "published_at": format_event_time(now_ms),
            "days": self.days,
            "minutes": [
                {"minute": format_event_time(epoch * 1000), **values}
                for epoch, values in sorted(self.minutes.items())
            ],
            "latest_orders": self.latest,
        }
        self.days, self.minutes, self.latest, self.max_event_time_ms = {}, {}, [], None
        self.last_published_ms = now_ms
        return orjson.dumps(message)


__all__ = ["LiveUpdates"]
