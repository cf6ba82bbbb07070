"""Spark session settings the batch job relies on, whoever creates the session.

spark-submit creates the session for the job, tests create one local
session for the whole run; both go through :func:`configure` so times are
UTC and Parquet timestamps are written as plain microseconds (not INT96).
"""

from __future__ import annotations

from pyspark.sql import SparkSession

SQL_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.adaptive.coalescePartitions.enabled": "true",
    "spark.sql.sources.partitionOverwriteMode": "static",
    # A run lists its raw files itself (one per source and day): stat them in the driver
    # rather than in a Spark job of one task per file.
    "spark.sql.sources.parallelPartitionDiscovery.threshold": "1000000",
}


def configure(spark: SparkSession) -> SparkSession:
    for key, value in SQL_CONF.items():
        spark.conf.set(key, value)
    return spark


def local_session(
    master: str = "local[2]", shuffle_partitions: int = 4, app: str = "salespulse"
) -> SparkSession:
    """A small local session (tests, in-process runs): UI off, few shuffle partitions."""
    from salespulse.java import configure_environment

    configure_environment()
    spark = (
        SparkSession.builder.master(master)
        .appName(app)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(shuffle_partitions))
        .config("spark.driver.memory", "2g")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    return configure(spark)
