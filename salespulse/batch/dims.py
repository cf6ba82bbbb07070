"""Dimensions: the deterministic catalogue, plus members for ids it lacks.

Catalogue members get keys ``1..N`` in catalogue order (the catalogue is
rebuilt from the seed, so keys never move); key ``0`` is the ``unknown``
member; ids seen in the data but missing from the catalogue get the negative
hash key of :func:`salespulse.batch.transforms.adhoc_key`.
"""

from __future__ import annotations

import hashlib
from datetime import date

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from salespulse.batch.transforms import UNKNOWN_KEY, adhoc_key, date_key
from salespulse.reference import UNKNOWN, Catalogue, channels_table, regions_table
from salespulse.warehouse import ddl

#: dim_date always covers these years, so a day without sales still joins.
CALENDAR_FIRST = date(2000, 1, 1)
CALENDAR_LAST = date(2049, 12, 31)


def catalogue_signature(catalogue: Catalogue, customers: int) -> str:
    """Identifies the catalogue the keys were assigned from (an incremental run needs the same one)."""
    raw = f"seed={catalogue.seed};books={catalogue.n_books};customers={customers}"
    return raw + ";" + hashlib.sha256(raw.encode()).hexdigest()[:8]


def _keys(n: int) -> pa.Array:
    return pa.array(np.arange(1, n + 1, dtype=np.int64))


def book_table(catalogue: Catalogue) -> pa.Table:
    """dim_book rows of the catalogue plus the unknown member (Arrow, no Spark)."""
    t = catalogue.books_table()
    known = t.add_column(0, "book_key", _keys(t.num_rows))
    unknown = pa.table(
        {
            "book_key": [UNKNOWN_KEY],
            "book_id": [UNKNOWN],
            "isbn": pa.array([None], pa.string()),
            "title": [UNKNOWN],
            "author": [UNKNOWN],
            "genre": [UNKNOWN],
            "publisher": [UNKNOWN],
            "publication_year": pa.array([None], pa.int32()),
            "list_price_cents": pa.array([None], pa.int64()),
        }
    )
    return pa.concat_tables([unknown, known.select(unknown.column_names).cast(unknown.schema)])


def customer_table(catalogue: Catalogue) -> pa.Table:
    t = catalogue.customers_table()
    known = t.add_column(0, "customer_key", _keys(t.num_rows))
    unknown = pa.table(
        {
            "customer_key": [UNKNOWN_KEY],
            "customer_id": [UNKNOWN],
            "customer_name": [UNKNOWN],
            "region": [UNKNOWN],
            "segment": [UNKNOWN],
            "signup_date": pa.array([None], pa.date32()),
        }
    )
    return pa.concat_tables([unknown, known.select(unknown.column_names).cast(unknown.schema)])


def region_table() -> pa.Table:
    t = regions_table().select(["region_code", "region_name", "country"])
    known = t.add_column(0, "region_key", _keys(t.num_rows))
    unknown = pa.table({"region_key": [UNKNOWN_KEY], "region_code": [UNKNOWN], "region_name": [UNKNOWN]})
    unknown = unknown.append_column("country", pa.array([UNKNOWN]))
    return pa.concat_tables([unknown, known.cast(unknown.schema)])


def channel_table() -> pa.Table:
    t = channels_table()
    known = t.add_column(0, "channel_key", _keys(t.num_rows))
    unknown = pa.table({"channel_key": [UNKNOWN_KEY], "channel_code": [UNKNOWN], "channel_name": [UNKNOWN]})
    return pa.concat_tables([unknown, known.cast(unknown.schema)])


def catalogue_dims(spark: SparkSession, catalogue: Catalogue) -> dict[str, DataFrame]:
    """The catalogue part of dim_book, dim_customer, dim_region, dim_channel as DataFrames."""
    tables = {
        "dim_book": book_table(catalogue),
        "dim_customer": customer_table(catalogue),
        "dim_region": region_table(),
        "dim_channel": channel_table(),
    }
    return {name: spark.createDataFrame(t) for name, t in tables.items()}


def adhoc_members(fact: DataFrame, dim: DataFrame, table: ddl.Table) -> DataFrame:
    """Members for ids in ``fact`` that ``dim`` lacks, every attribute ``unknown``.

    ``fact`` is the enriched fact (it carries ``book_id``, ``customer_id``,
    ``region_code``, ``channel_code``); the result has ``table``'s columns.
    """
    key, member = table.columns[0][0], table.columns[1][0]
    fact_id = {"dim_book": "book_id", "dim_customer": "customer_id"}.get(table.name, member)
    seen = fact.select(F.col(fact_id).alias(member)).distinct()
    missing = seen.join(dim.select(member), member, "left_anti")
    cols = []
    for name, sql_type in table.columns:
        if name == key:
            cols.append(adhoc_key(F.col(member)).alias(key))
        elif name == member:
            cols.append(F.col(member))
        elif sql_type.startswith("VARCHAR") and sql_type.endswith("NOT NULL"):
            cols.append(F.lit(UNKNOWN).alias(name))
        else:
            cols.append(F.lit(None).cast(_spark_type(sql_type)).alias(name))
    return missing.select(*cols)


def _spark_type(sql_type: str) -> str:
    base = sql_type.split()[0].split("(")[0]
    return {"VARCHAR": "string", "BIGINT": "long", "INTEGER": "int", "DATE": "date"}[base]


def dim_date(spark: SparkSession, extra_days: DataFrame | None = None) -> DataFrame:
    """The calendar 2000..2049, plus any day in ``extra_days`` (column ``date``) outside it."""
    days = spark.sql(
        f"SELECT explode(sequence(DATE'{CALENDAR_FIRST}', DATE'{CALENDAR_LAST}', INTERVAL 1 DAY)) AS date"
    )
    if extra_days is not None:
        days = days.unionByName(extra_days.select("date")).distinct()
    d = F.col("date")
    return days.select(
        date_key(d).alias("date_key"),
        d,
        F.year(d).cast("short").alias("year"),
        F.quarter(d).cast("short").alias("quarter"),
        F.month(d).cast("short").alias("month"),
        F.dayofmonth(d).cast("short").alias("day"),
        F.weekofyear(d).cast("short").alias("iso_week"),
        # Spark's dayofweek is 1 = Sunday; ISO is 1 = Monday .. 7 = Sunday.
        (((F.dayofweek(d) + 5) % 7) + 1).cast("short").alias("day_of_week"),
        F.dayofweek(d).isin(1, 7).alias("is_weekend"),
    )
