"""``salespulse demo``: the whole platform on one machine, with one command.

Steps (each skipped when its result already exists, so a second demo is quick):
services up → history in the lake → Airflow up → the nightly DAG run once
(full rebuild) → consumer, producer, web app (with the live relay) → URLs and
login printed → logs followed.  Ctrl-C (or ``salespulse demo --stop`` from
another terminal) stops everything the demo started and nothing else.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

from salespulse import services
from salespulse.services.base import ServiceError
from salespulse.settings import get_settings

DEFAULT_SALES = 1_000_000
DEFAULT_DAYS = 730
DEFAULT_RATE = 200


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "demo",
        help="run the whole platform locally (what `make demo` calls)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--stop", action="store_true", help="stop what a running demo started")
    parser.add_argument(
        "--sales",
        type=int,
        default=int(os.environ.get("DEMO_SALES", DEFAULT_SALES)),
        help=f"history size in sale lines (env DEMO_SALES, default {DEFAULT_SALES:,})",
    )
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="history length in days")
    parser.add_argument(
        "--rate",
        type=float,
        default=float(os.environ.get("DEMO_RATE", DEFAULT_RATE)),
        help=f"live events per second (env DEMO_RATE, default {DEFAULT_RATE})",
    )
    parser.add_argument(
        "--interactions",
        action="store_true",
        default=os.environ.get("DEMO_INTERACTIONS", "") not in ("", "0"),
        help="also simulate shopper interactions and run the funnel consumer (env DEMO_INTERACTIONS=1); "
        "about 40 messages per sale, so lower --rate on a small machine",
    )
    parser.add_argument("--port", type=int, default=8000, help="web app port (default 8000)")
    parser.add_argument("--airflow-port", type=int, default=8080, help="Airflow UI port (default 8080)")
    parser.add_argument(
        "--stack-only", action="store_true", help="only bring the services up and print their status"
    )
    parser.add_argument(
        "--no-follow", action="store_true", help="start everything, print the URLs and return"
    )
    parser.set_defaults(func=run)


def _state_dir() -> Path:
    return get_settings().data_dir / "demo"


def run(args: argparse.Namespace) -> int:
    from salespulse import demo_steps
    from salespulse.supervisor import Supervisor, stop_recorded

    if args.stop:
        stopped = stop_recorded(_state_dir()) + demo_steps.stop_started(_state_dir())
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    demo_steps.record_services(_state_dir())
    try:
        statuses = services.up()
    except ServiceError as exc:
        print(f"salespulse demo: {exc}", file=sys.stderr)
        return 1
    for st in statuses:
        print("  " + st.line())
    if args.stack_only:
        return 0 if all(st.healthy for st in statuses) else 1

    supervisor = Supervisor(_state_dir())
    stop_recorded(_state_dir())  # a previous demo killed hard leaves its children behind
    started = time.monotonic()
    ok = False
    try:
        demo_steps.prepare(args, _state_dir())
        demo_steps.start_live(args, supervisor)
        demo_steps.print_banner(args, time.monotonic() - started)
        ok = True
        if args.no_follow:
            return 0
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        follower = threading.Thread(target=supervisor.follow, args=(stop,), daemon=True)
        follower.start()
        while not stop.is_set():
            if dead := [c.name for c in supervisor.children if c not in supervisor.alive()]:
                print(f"salespulse demo: {', '.join(dead)} exited; see data/demo/logs/", file=sys.stderr)
                break
            stop.wait(1.0)
        stop.set()
        return 0
    except KeyboardInterrupt:
        return 0
    except demo_steps.DemoError as exc:
        print(f"salespulse demo: {exc}", file=sys.stderr)
        return 1
    finally:
        if not (args.no_follow and ok):
            print("\nstopping the demo ...", flush=True)
            stopped = supervisor.stop_all() + demo_steps.stop_started(_state_dir())
            print("stopped: " + (", ".join(stopped) if stopped else "nothing"))
