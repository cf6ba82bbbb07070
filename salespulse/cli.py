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

#: Listed first in ``--help``; every other module in ``salespulse.commands`` follows, sorted.
FIRST = ("services", "config", "demo")


def command_modules() -> list[str]:
    import pkgutil

    import salespulse.commands as package

    found = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_"))
    return [*(n for n in FIRST if n in found), *(n for n in found if n not in FIRST)]


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
    for name in command_modules():
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
