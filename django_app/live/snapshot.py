"""The full live state a client needs on (re)connect, read from the speed views.

A client that reconnects after missing updates gets everything again from
here, so updates never need to be replayed: resync is "take a new snapshot".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api.speed import SpeedViews

MINUTES = 120
LATEST_ORDERS = 50


def live_snapshot_get(views: SpeedViews | None = None, now: datetime | None = None) -> dict[str, Any]:
    views = views or SpeedViews()
    now = now or datetime.now(UTC)
    today = now.date()
    days = views.day_totals([today - timedelta(days=1), today])
    watermark, run_id = views.markers()
    return {
        "type": "snapshot",
        "as_of": now.isoformat(timespec="milliseconds"),
        "today": today.isoformat(),
        "watermark": watermark.isoformat() if watermark else None,
        "batch_run": run_id,
        "days": {d.isoformat(): totals for d, totals in days.items()},
        "minutes": views.minutes(MINUTES),
        "latest_orders": views.latest_orders(LATEST_ORDERS),
        "consumer": views.consumer_stats(),
    }
