"""Writes the live app makes: the connected-clients counter behind ``salespulse_websocket_clients``.

One Redis counter (``P:stats:ws_clients``) shared by every web process, so ``/metrics`` on any
process reports the whole tier.  A process killed without running its disconnect handlers leaves
its clients counted until the key is reset (``DEL`` it, or restart the whole tier): the reader
clamps the value at 0, but it cannot tell a stale count from a live one.
"""

from __future__ import annotations

from api.speed import SpeedViews, client, names


def _key() -> str:
    return names().key("stats", "ws_clients")


def ws_clients_add(delta: int) -> int:
    """Count a client in (+1) or out (-1); returns the new total."""
    return int(client().incrby(_key(), delta))


def ws_clients_get(views: SpeedViews | None = None) -> int:
    views = views or SpeedViews()
    raw = views.r.get(views.n.key("stats", "ws_clients"))
    return max(int(raw), 0) if raw else 0
