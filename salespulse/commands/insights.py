"""``salespulse insights``: quick insights and live alerts, computed locally, printed as sentences."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "insights",
        help="week-over-week and month-over-month changes, top movers, anomalies, a forecast, alerts",
        description=(
            "Compute quick insights from the warehouse (days before the batch watermark) and the "
            "Redis speed views (days from it), with NumPy on this machine: week-over-week and "
            "28-day changes, top movers (books, genres, regions), revenue anomalies robust to the "
            "weekly rhythm, a revenue forecast with an interval, and the live-stream alerts "
            "(SALESPULSE_ALERT_MIN_REVENUE_PER_MIN_CENTS, SALESPULSE_ALERT_MAX_DLQ_RATE)."
        ),
    )
    parser.add_argument("--days", type=int, default=90, help="complete days of history to use (default 90)")
    parser.add_argument("--horizon", type=int, default=14, help="forecast horizon in days (default 14)")
    parser.add_argument("--json", action="store_true", help="print the insights with their numbers as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import psycopg2
    import redis

    from salespulse.insights_io import build_insights, live_alerts

    if args.days < 1 or args.horizon < 1:
        print("salespulse insights: --days and --horizon must be >= 1", file=sys.stderr)
        return 2
    try:
        found = build_insights(days=args.days, horizon=args.horizon)
        alerts = live_alerts()
    except ValueError as exc:  # a malformed alert threshold
        print(f"salespulse insights: {exc}", file=sys.stderr)
        return 2
    except (psycopg2.Error, redis.RedisError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"salespulse insights: cannot read the warehouse or Redis: {first}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"insights": [i.as_json() for i in found], "alerts": [a.as_json() for a in alerts]}))
        return 0
    if not found:
        print(f"No insights: no revenue in the last {args.days} days.")
    for item in found:
        print(f"- {item.text}")
    for alert in alerts:
        print(f"! {alert.text}")
    if not alerts:
        print("Live alerts: none firing.")
    return 0
