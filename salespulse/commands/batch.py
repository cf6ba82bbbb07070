"""``salespulse batch``: rebuild the warehouse (spark-submit the job, or continue a run).

With ``build`` among ``--steps`` (the default) this runs
``spark-submit spark/jobs/batch_processing.py`` with this environment's Java
and Python; without it, the remaining steps (load, check, publish) need no
Spark and run in this process.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path

from salespulse.batch import pipeline
from salespulse.settings import get_settings

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "batch",
        help="rebuild the warehouse from the lake (spark-submit), check it and publish it atomically",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pipeline.add_arguments(parser)
    spark = parser.add_argument_group("spark-submit")
    spark.add_argument("--master", default="local[*]", help="Spark master (default: local[*])")
    spark.add_argument("--driver-memory", default="4g", help="driver memory (default: 4g)")
    spark.add_argument("--shuffle-partitions", type=int, default=8, help="spark.sql.shuffle.partitions")
    spark.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="extra Spark conf")
    parser.set_defaults(func=run)


def job_path() -> Path:
    return get_settings().home / "spark" / "jobs" / "batch_processing.py"


def spark_submit_command(args: argparse.Namespace, job_args: list[str]) -> list[str]:
    """The spark-submit argv: the venv's spark-submit, this Python for driver and workers."""
    submit = Path(sys.executable).with_name("spark-submit")
    confs = {
        "spark.ui.enabled": "false",
        "spark.log.level": "WARN",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(args.shuffle_partitions),
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }
    for item in args.conf:
        key, _, value = item.partition("=")
        confs[key] = value
    cmd = [str(submit), "--master", args.master, "--driver-memory", args.driver_memory]
    for key, value in confs.items():
        cmd += ["--conf", f"{key}={value}"]
    return [*cmd, str(job_path()), *job_args]


def job_arguments(args: argparse.Namespace) -> list[str]:
    out = ["--steps", args.steps]
    for flag, value in (
        ("--mode", args.mode),
        ("--from", args.range_from),
        ("--to", args.range_to),
        ("--watermark", args.watermark),
        ("--run-id", args.run_id),
    ):
        if value:
            out += [flag, str(value)]
    return out


def run(args: argparse.Namespace) -> int:
    try:
        options = pipeline.options_from(args)
    except pipeline.BatchError as exc:
        print(f"salespulse batch: {exc}", file=sys.stderr)
        return 2
    if "build" not in options.steps:
        return _in_process(options)
    from salespulse.java import configure_environment

    configure_environment()
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    cmd = spark_submit_command(args, job_arguments(args))
    log.info("running: %s", " ".join(cmd))
    return subprocess.run(cmd, env=env, check=False).returncode


def _in_process(options: pipeline.Options) -> int:
    from salespulse.warehouse.quality import QualityError

    try:
        pipeline.run(options, get_settings())
    except (pipeline.BatchError, QualityError) as exc:
        print(f"salespulse batch: {exc}", file=sys.stderr)
        return 1
    return 0
