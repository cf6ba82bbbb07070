"""``salespulse demo``: bring the local stack up and show where everything is.

Later layers add themselves here (history, batch, stream, web); at every
stage the demo runs what exists and prints how to reach it.
"""

from __future__ import annotations

import argparse
import sys

from salespulse import services
from salespulse.services.base import ServiceError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("demo", help="run the local demo (what `make demo` calls)")
    parser.add_argument("--stop", action="store_true", help="stop what the demo started")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.stop:
        stopped = services.down()
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    try:
        statuses = services.up()
    except ServiceError as exc:
        print(f"salespulse demo: {exc}", file=sys.stderr)
        return 1
    print("SalesPulse local stack is up:")
    for st in statuses:
        print("  " + st.line())
    print("Stop it with `make demo-stop` (data is kept; `salespulse services down --reset` wipes it).")
    return 0 if all(st.healthy for st in statuses) else 1
