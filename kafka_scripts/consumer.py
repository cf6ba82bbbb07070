"""Thin main of `salespulse consume` (same flags), for running the stream script on its own.

Run with the project's interpreter: `.venv/bin/python kafka_scripts/consumer.py --help`.
"""

from __future__ import annotations

import argparse
import sys

from salespulse.commands import consume
from salespulse.logs import configure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="consumer.py", description=consume.__doc__)
    consume.add_arguments(parser)
    args = parser.parse_args(argv)
    configure()
    return consume.run(args)


if __name__ == "__main__":
    sys.exit(main())
