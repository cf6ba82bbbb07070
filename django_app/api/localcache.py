"""Per-process memory in front of the shared (Redis) cache, and the "no blocking I/O" guard.

Batch parts of answers are keyed by the published batch run, so an entry never goes
stale: a publish changes the key.  Keeping the hot ones in the worker's memory means a
repeated question costs no round trip at all; the shared Django cache behind it still
lets a freshly started worker reuse what another one computed.  The memory is bounded
(least recently used entries go first), entries may carry a time to live (the few keys
that are not run-keyed), and values are shared between requests: callers must treat
them as read-only.

The fast serving path (:mod:`api.serving`) computes an answer on the event loop while
:func:`no_io` is active; anything that would block there (a miss in this memory, a
PostgreSQL query) raises :class:`NeedsIO` instead, and the caller runs the same
computation again in a thread, where the miss is filled.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

#: Total weight kept per process: an entry weighs 1 (a batch part, a per-period top list) or
#: its number of rows (a daily series); 100,000 is some tens of MB at most.
MAX_WEIGHT = 100_000
MISSING: Any = object()

#: key -> (expires at, weight, value), least recently used first
_entries: OrderedDict[str, tuple[float | None, int, Any]] = OrderedDict()
_weight = 0
_lock = threading.Lock()
_no_io: ContextVar[bool] = ContextVar("api_no_io", default=False)


class NeedsIO(Exception):
    """Raised under :func:`no_io` where the computation would have to wait for I/O."""


def get(key: str) -> Any:
    """The value, or :data:`MISSING`."""
    with _lock:
        item = _entries.get(key)
        if item is None:
            return MISSING
        expires, _, value = item
        if expires is not None and expires <= time.monotonic():
            _drop(key)
            return MISSING
        _entries.move_to_end(key)
        return value


def put(key: str, value: Any, timeout: float | None = None, weight: int = 1) -> None:
    global _weight
    expires = None if timeout is None else time.monotonic() + timeout
    with _lock:
        _drop(key)
        _entries[key] = (expires, weight, value)
        _weight += weight
        while _weight > MAX_WEIGHT and len(_entries) > 1:
            _drop(next(iter(_entries)))


def _drop(key: str) -> None:
    """Under the lock."""
    global _weight
    item = _entries.pop(key, None)
    if item is not None:
        _weight -= item[1]


def discard(key: str) -> None:
    with _lock:
        _drop(key)


def clear() -> None:
    global _weight
    with _lock:
        _entries.clear()
        _weight = 0


@contextmanager
def no_io() -> Iterator[None]:
    """Within: :func:`require_io` raises :class:`NeedsIO`."""
    token = _no_io.set(True)
    try:
        yield
    finally:
        _no_io.reset(token)


def require_io() -> None:
    """Call before blocking I/O: raises :class:`NeedsIO` on the event loop's no-I/O pass."""
    if _no_io.get():
        raise NeedsIO
