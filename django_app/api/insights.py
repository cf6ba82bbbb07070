"""Quick insights and live alerts for the API: thin, cached wrappers over :mod:`salespulse.insights_io`.

The arithmetic (changes, movers, anomalies, forecast, alert rules) lives in the shared package so
the CLI and the web say the same sentences.  What this module adds is the serving concern:

* Insights read the batch part (days before the watermark, PostgreSQL) and the speed part (days
  from the watermark to yesterday, Redis) and run a backtested forecast, so they are worth caching.
  Like every other answer they are keyed by the latest published batch run (a publish changes the
  key).  Unlike the other endpoints they cannot split into a cached batch part and a fresh speed
  part, because the forecast and anomalies look at the whole series; so the key also carries a
  fingerprint of the speed days' totals hashes (a handful of ``HGET``\\ s): a late event on a speed
  day changes its ``events`` counter and with it the key.  Today is excluded by
  :func:`~salespulse.insights_io.build_insights` and is part of the key, so midnight rolls over.
* Alerts are about the last minutes of the stream and are never cached.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

from api.analytics import Context, _cached
from api.speed import SpeedViews
from salespulse.insights_io import InsightSource, build_insights, live_alerts
from salespulse.settings import get_settings

#: Days of history the insights look at (week/month changes, anomalies, forecast fit).
INSIGHT_DAYS = 90
FORECAST_HORIZON = 14
MOVERS = 3


def _source(views: SpeedViews) -> InsightSource:
    """An insight source on the web app's pooled Redis client (not a new pool per request)."""
    return InsightSource(get_settings(), redis_client=views.r)


def speed_fingerprint(views: SpeedViews, watermark: date | None, start: date, end: date) -> str:
    """A digest of the speed days' ``revenue_cents`` and ``events`` within ``[start, end]``."""
    first = max(start, watermark) if watermark is not None else start
    days = [first + timedelta(days=i) for i in range((end - first).days + 1)]
    if not days:
        return "none"
    pipe = views.r.pipeline(transaction=False)
    for day in days:
        pipe.hmget(views.n.day_key("totals", day.isoformat()), "revenue_cents", "events")
    parts = [f"{d.isoformat()}={v[0]}/{v[1]}" for d, v in zip(days, pipe.execute(), strict=True)]
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


def insights_get(ctx: Context | None = None) -> dict[str, Any]:
    """The insights of the last :data:`INSIGHT_DAYS` complete days, with what they were made from."""
    ctx = ctx or Context.load()
    end = ctx.today - timedelta(days=1)
    start = end - timedelta(days=INSIGHT_DAYS - 1)
    fingerprint = speed_fingerprint(ctx.speed, ctx.watermark, start, end)
    key = f"insights:{ctx.run_id}:{ctx.watermark}:{ctx.today}:{fingerprint}"

    def compute() -> list[dict[str, Any]]:
        found = build_insights(
            days=INSIGHT_DAYS,
            today=ctx.today,
            horizon=FORECAST_HORIZON,
            movers=MOVERS,
            source=_source(ctx.speed),
        )
        return [i.as_json() for i in found]

    return {
        "as_of": datetime.now(UTC).isoformat(timespec="seconds"),
        "range": {"start": start.isoformat(), "end": end.isoformat(), "days": INSIGHT_DAYS},
        "watermark": ctx.watermark.isoformat() if ctx.watermark else None,
        "run_id": ctx.run_id,
        "insights": _cached(key, compute),
    }


def alerts_get(views: SpeedViews | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The live-stream alerts firing now (thresholds from the environment, see salespulse.insights)."""
    views = views or SpeedViews()
    at = now or datetime.now(UTC)
    firing = live_alerts(now=at, source=_source(views))
    return {"as_of": at.isoformat(timespec="seconds"), "alerts": [a.as_json() for a in firing]}
