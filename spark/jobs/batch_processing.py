"""spark-submit entry point of the nightly warehouse rebuild.

    spark-submit --master 'local[*]' spark/jobs/batch_processing.py --mode full|incremental \
        [--from D --to D] [--watermark D] [--steps build,load,check,publish]

Only wiring: the transforms live in ``salespulse.batch`` (see
``spark/transforms/README.md``), the steps in ``salespulse.batch.pipeline``.
``salespulse batch`` runs this with the right Java and Python.
"""

from __future__ import annotations

import sys

from pyspark.sql import SparkSession

from salespulse.batch import pipeline, session
from salespulse.logs import configure
from salespulse.settings import get_settings
from salespulse.warehouse.quality import QualityError


def main(spark: SparkSession, args: list[str]) -> int:
    options = pipeline.main_args(args, "batch_processing.py")
    pipeline.run(options, get_settings(), lambda: session.configure(spark))
    return 0


if __name__ == "__main__":
    configure()
    spark = SparkSession.builder.appName("salespulse-batch").getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    try:
        code = main(spark, sys.argv[1:])
    except (pipeline.BatchError, QualityError) as exc:
        print(f"batch_processing: {exc}", file=sys.stderr)
        code = 1
    finally:
        spark.stop()
    sys.exit(code)
