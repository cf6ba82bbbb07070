"""``salespulse publish``: check and publish a run that was built and loaded earlier.

The Airflow DAG runs ``salespulse batch --steps build,load`` and then this,
so the quality gate and the atomic publish are separate, retryable tasks.
Needs no Spark.
"""

from __future__ import annotations

import argparse
import sys

from salespulse.batch import pipeline
from salespulse.settings import get_settings


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "publish",
        help="quality-check and atomically publish the latest loaded batch run",
        description=__doc__,
    )
    parser.add_argument("--run-id", help="the run to publish (default: the latest loaded or checked one)")
    parser.add_argument(
        "--check-only", action="store_true", help="run the quality gate and stop (status 'checked')"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from salespulse.warehouse.quality import QualityError

    steps = ("check",) if args.check_only else ("publish",)
    try:
        result = pipeline.run(pipeline.Options(steps=steps, run_id=args.run_id), get_settings())
    except (pipeline.BatchError, QualityError) as exc:
        print(f"salespulse publish: {exc}", file=sys.stderr)
        return 1
    print(f"{result.run_id} {result.status} watermark={result.watermark}")
    return 0
