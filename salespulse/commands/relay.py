"""``salespulse relay``: forward live updates from Redis to the WebSocket clients.

``salespulse web`` starts it by itself; run it alone when the web servers are
started another way (several daphne processes share one relay: the channel
layer fans the message out to all of them).
"""

from __future__ import annotations

import argparse
import subprocess

from salespulse.commands.web import django_dir, django_env, manage


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "relay", help="relay the consumer's Redis update channel to the live WebSocket group"
    )
    parser.add_argument("--settings", default=None, help="Django settings module")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        return subprocess.run(manage("relay"), cwd=django_dir(), env=django_env(args.settings)).returncode
    except KeyboardInterrupt:
        return 0
