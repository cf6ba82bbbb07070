"""Thin main of `salespulse produce` (same flags), for running the stream script on its own.

Run with the project's interpreter: `.venv/bin/python kafka_scripts/producer.py --help`.
"""

from __future__ import annotations

import argparse
import sys

from salespulse.commands import produce
from salespulse.logs import configure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="producer.py", description=produce.__doc__)
    produce.add_arguments(parser)
    args = parser.parse_args(argv)
    configure()
    return produce.run(args)


if __name__ == "__main__":
    sys.exit(main())
