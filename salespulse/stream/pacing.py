"""Smooth producer pacing: how many events are due, and how long to sleep.

The schedule is absolute (event ``i`` is due at ``start + i / rate``), so a
slow iteration is caught up by the next one instead of lowering the rate, and
events leave in small, even bursts rather than one lump per second.
"""

from __future__ import annotations

import math

#: Shortest sleep between bursts: the producer never spins waiting for the next event.
TICK_S = 0.001


def due(elapsed_s: float, rate: float, sent: int, total: int | None, max_burst: int) -> int:
    """Events to send now: those scheduled by ``elapsed_s``, capped by ``max_burst`` and ``total``."""
    n = max_burst if rate <= 0 else math.floor(elapsed_s * rate) + 1 - sent
    if total is not None:
        n = min(n, total - sent)
    return max(0, min(n, max_burst))


def sleep_for(elapsed_s: float, rate: float, sent: int, max_sleep_s: float = 0.05) -> float:
    """Seconds until the next event is due (0 when already due, never more than ``max_sleep_s``)."""
    if rate <= 0:
        return 0.0
    return max(0.0, min(max_sleep_s, sent / rate - elapsed_s))
