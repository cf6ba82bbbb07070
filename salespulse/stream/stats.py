"""Throughput, batch latency, event-time delay and lag, for logs and the health page.

Pure accumulators: the consumer feeds them and decides when to log and
write them to ``P:stats:consumer``.  The delay of an event is the time from
its event time to the moment its batch was applied in Redis, so it measures
the whole path (producer, broker, consumer) on the event's own clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

#: Delays are histogrammed in 1 ms buckets up to this bound (later ones land in the last bucket).
MAX_DELAY_MS = 120_000


@dataclass
class DelayHistogram:
    """Event-to-applied delays in milliseconds, exact percentiles at 1 ms resolution."""

    counts: np.ndarray = field(default_factory=lambda: np.zeros(MAX_DELAY_MS + 1, np.int64))

    def add(self, event_times_ms: np.ndarray, applied_ms: int) -> None:
        if len(event_times_ms) == 0:
            return
        delays = np.clip(applied_ms - event_times_ms, 0, MAX_DELAY_MS)
        self.counts += np.bincount(delays, minlength=MAX_DELAY_MS + 1)

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def percentile(self, q: float) -> int | None:
        """Smallest delay d with at least ``q`` percent of events at or below d."""
        n = self.total
        if n == 0:
            return None
        rank = max(1, int(np.ceil(n * q / 100.0)))
        return int(np.searchsorted(np.cumsum(self.counts), rank))

    def reset(self) -> None:
        self.counts[:] = 0


@dataclass
class RateMeter:
    """Events per second over a sliding window of recent batches."""

    window_s: float = 5.0
    samples: deque[tuple[float, int]] = field(default_factory=deque)

    def add(self, now: float, events: int) -> None:
        self.samples.append((now, events))
        while self.samples and now - self.samples[0][0] > self.window_s:
            self.samples.popleft()

    def rate(self, now: float) -> float:
        while self.samples and now - self.samples[0][0] > self.window_s:
            self.samples.popleft()
        if not self.samples:
            return 0.0
        span = max(now - self.samples[0][0], 1e-3)
        # The oldest sample's events were consumed before the window opened.
        return sum(n for _, n in list(self.samples)[1:]) / span if len(self.samples) > 1 else 0.0


def lag(high_watermarks: dict[int, int], positions: dict[int, int]) -> dict[int, int]:
    """Messages not yet consumed per partition (unknown positions count from 0)."""
    return {p: max(0, high - max(positions.get(p, 0), 0)) for p, high in high_watermarks.items()}


def stats_fields(
    events_per_s: float,
    batch_latency_ms: float,
    lags: dict[int, int],
    updated_at: str,
    delay_p50_ms: int | None,
    delay_p99_ms: int | None,
) -> dict[str, str]:
    """The ``P:stats:consumer`` fields this process owns (totals are incremented by the script)."""
    fields = {
        "events_per_s": f"{events_per_s:.1f}",
        "batch_latency_ms": f"{batch_latency_ms:.1f}",
        "lag_total": str(sum(lags.values())),
        "updated_at": updated_at,
        "delay_p50_ms": "" if delay_p50_ms is None else str(delay_p50_ms),
        "delay_p99_ms": "" if delay_p99_ms is None else str(delay_p99_ms),
    }
    fields.update({f"lag:{p}": str(n) for p, n in sorted(lags.items())})
    return fields


@dataclass
class DelayWindow:
    """Event-to-applied delays of the last ``window_s`` seconds (what the health page shows).

    A cumulative histogram would let a slow start (a producer's first
    second, a consumer catching up after a restart) dominate for ever.
    """

    window_s: float = 10.0
    batches: deque[tuple[float, np.ndarray]] = field(default_factory=deque)

    def add(self, now: float, event_times_ms: np.ndarray, applied_ms: int) -> None:
        if len(event_times_ms):
            self.batches.append((now, np.maximum(applied_ms - event_times_ms, 0)))
        while self.batches and now - self.batches[0][0] > self.window_s:
            self.batches.popleft()

    def percentile(self, q: float) -> int | None:
        if not self.batches:
            return None
        return int(np.percentile(np.concatenate([d for _, d in self.batches]), q, method="higher"))
