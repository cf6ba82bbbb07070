"""The ``salespulse`` command.

Each subcommand lives in ``salespulse.commands.<name>`` with a ``register``
function that adds its parser; heavy imports (Spark, Django, Kafka clients)
happen inside the command, so ``salespulse --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from salespulse.logs import configure
from salespulse.settings import SettingsError

#: Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "services",
    "config",
    "demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="salespulse",
        description=(
            "SalesPulse: live sales through Kafka into Redis, nightly Spark rebuilds of a "
            "PostgreSQL warehouse, one Django app serving both."
        ),
    )
    parser.add_argument("--log-level", help="override SALESPULSE_LOG_LEVEL for this command")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"salespulse.commands.{name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        configure(args.log_level.upper() if args.log_level else None)
        return int(args.func(args) or 0)
    except SettingsError as exc:
        print(f"salespulse: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("salespulse: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
