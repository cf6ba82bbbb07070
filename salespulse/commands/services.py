"""``salespulse services up|down|status``: the embedded local stack."""

from __future__ import annotations

import argparse
import sys

from salespulse import services
from salespulse.services.base import ServiceError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "services",
        help="start, stop or inspect PostgreSQL, Redis and the Kafka-protocol broker",
        description=(
            "Manage the local stack. A service whose URL is configured (DATABASE_URL, REDIS_URL, "
            "KAFKA_BOOTSTRAP_SERVERS) is only health-checked; otherwise it is run from the "
            "project's own packages under data/services/."
        ),
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="start what is not running and wait until healthy")
    up.add_argument("--reset", action="store_true", help="wipe the embedded services' data first")
    up.set_defaults(func=_up)
    down = actions.add_parser("down", help="stop what `up` started (data kept)")
    down.add_argument("--reset", action="store_true", help="also delete the embedded services' data")
    down.set_defaults(func=_down)
    status = actions.add_parser("status", help="address, version and health of each service")
    status.set_defaults(func=_status)


def _print(statuses: list[services.Status]) -> bool:
    for st in statuses:
        print(st.line())
    return all(st.healthy for st in statuses)


def _up(args: argparse.Namespace) -> int:
    try:
        return 0 if _print(services.up(reset=args.reset)) else 1
    except ServiceError as exc:
        print(f"salespulse services up: {exc}", file=sys.stderr)
        return 1


def _down(args: argparse.Namespace) -> int:
    stopped = services.down(reset=args.reset)
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    if args.reset:
        print("embedded service data wiped")
    return 0


def _status(args: argparse.Namespace) -> int:
    return 0 if _print(services.status()) else 1
