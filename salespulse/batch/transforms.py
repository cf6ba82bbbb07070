"""Pure DataFrame -> DataFrame steps from raw events to the sales fact.

No I/O here: the job reads the raw zone and writes the curated zone around
these functions, and the tests call them on tiny DataFrames.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from salespulse.metrics import REFUND, SALE, revenue_cents_col
from salespulse.reference import UNKNOWN

#: Key of the "unknown" member of every dimension (an empty id).
UNKNOWN_KEY = 0
_KEY_SPACE = 2**62


def dedup_events(raw: DataFrame) -> DataFrame:
    """One row per ``event_id``: the latest ``ingested_at`` wins.

    A stream replay stores identical copies; a re-ingested CSV line (same
    deterministic id) a newer version, possibly on another day.  Ties are
    broken by ``origin`` so a rerun picks the same row.
    """
    order = Window.partitionBy("event_id").orderBy(F.col("ingested_at").desc(), F.col("origin").desc())
    return raw.withColumn("_rank", F.row_number().over(order)).filter(F.col("_rank") == 1).drop("_rank")


def event_hash(event_id: Column) -> Column:
    """64-bit hash of an ``event_id``: equal ids have equal hashes (the cheap duplicate probe)."""
    return F.xxhash64(event_id)


def repeated_hashes(raw: DataFrame) -> DataFrame:
    """The ``event_hash`` values more than one raw row carries (column ``event_hash``).

    Every duplicated ``event_id`` is among them, so an empty result proves the
    ids unique.  It shuffles one partially counted 8-byte key per row instead
    of whole rows (the cost of :func:`dedup_events`); a hash collision only
    makes an innocent id a suspect, which :func:`dedup_events` then handles
    like any other.
    """
    counted = raw.groupBy(event_hash(F.col("event_id")).alias("event_hash")).count()
    return counted.filter(F.col("count") > 1).select("event_hash")


def dedup_suspects(clean: DataFrame, suspect: DataFrame) -> DataFrame:
    """Deduped events from rows split in two: ``clean`` rows share no ``event_id`` with any
    other row (they pass as they are), ``suspect`` rows hold every copy of every id that
    repeats (they go through :func:`dedup_events`)."""
    return clean.unionByName(dedup_events(suspect))


def published_days(events: DataFrame, watermark: date, dates: frozenset[date] | None = None) -> DataFrame:
    """Events of the days the warehouse publishes: before the watermark (and in ``dates`` if given)."""
    kept = events.filter(F.col("event_date") < F.lit(watermark))
    if dates is not None:
        kept = kept.filter(F.col("event_date").isin(sorted(dates)))
    return kept


def member_id(id_col: Column) -> Column:
    """The dimension id of a raw id: trimmed, and ``unknown`` when empty."""
    trimmed = F.trim(F.coalesce(id_col, F.lit("")))
    return F.when(trimmed == "", F.lit(UNKNOWN)).otherwise(trimmed)


def adhoc_key(member: Column) -> Column:
    """Stable surrogate key of a member id missing from the catalogue.

    ``0`` for ``unknown``, otherwise a negative 62-bit hash of the id, so full
    and incremental runs give an ad-hoc member the same key without a lookup
    (the gate checks keys stay unique).
    """
    hashed = -(F.pmod(F.xxhash64(member), F.lit(_KEY_SPACE)) + F.lit(1))
    return F.when(member == UNKNOWN, F.lit(UNKNOWN_KEY).cast("long")).otherwise(hashed)


def date_key(date_col: Column) -> Column:
    """``yyyymmdd`` as an integer (dim_date's key)."""
    return (F.year(date_col) * 10000 + F.month(date_col) * 100 + F.dayofmonth(date_col)).cast("int")


def enrich(
    events: DataFrame, books: DataFrame, customers: DataFrame, regions: DataFrame, channels: DataFrame
) -> DataFrame:
    """Deduped events -> fact rows with surrogate keys, measures and the ids aggregates group by.

    ``books`` etc. are the catalogue dimensions (``book_id, book_key, genre``...);
    an id they lack gets :func:`adhoc_key` (its dimension member is added by
    :func:`salespulse.batch.dims.adhoc_members`).  Left joins keep every event:
    the fact has exactly one row per deduped event.  Revenue is recomputed with
    the shared formula, so a writer that stored a different figure fails the
    gate's raw-vs-curated reconciliation instead of slipping through.
    """
    ids = events.select(
        "*",
        member_id(F.col("product_id")).alias("_book_id"),
        member_id(F.col("customer_id")).alias("_customer_id"),
        member_id(F.col("region")).alias("_region_code"),
        member_id(F.col("channel")).alias("_channel_code"),
    )
    b = books.select(F.col("book_id").alias("_book_id"), "book_key", "genre")
    c = customers.select(F.col("customer_id").alias("_customer_id"), "customer_key")
    r = regions.select(F.col("region_code").alias("_region_code"), "region_key")
    ch = channels.select(F.col("channel_code").alias("_channel_code"), "channel_key")
    joined = (
        ids.join(F.broadcast(b), "_book_id", "left")
        .join(F.broadcast(c), "_customer_id", "left")
        .join(F.broadcast(r), "_region_code", "left")
        .join(F.broadcast(ch), "_channel_code", "left")
    )
    refund = F.col("event_type") == REFUND
    return joined.select(
        "event_id",
        date_key(F.col("event_date")).alias("date_key"),
        F.col("event_time").cast("timestamp_ntz").alias("event_time"),
        "order_id",
        "line_no",
        F.coalesce("book_key", adhoc_key(F.col("_book_id"))).alias("book_key"),
        F.coalesce("customer_key", adhoc_key(F.col("_customer_id"))).alias("customer_key"),
        F.coalesce("region_key", adhoc_key(F.col("_region_code"))).alias("region_key"),
        F.coalesce("channel_key", adhoc_key(F.col("_channel_code"))).alias("channel_key"),
        "event_type",
        "quantity",
        F.when(refund, -F.col("quantity")).otherwise(F.col("quantity")).cast("int").alias("units"),
        "unit_price_cents",
        "discount_bp",
        revenue_cents_col().alias("revenue_cents"),
        ((F.col("line_no") == 1) & (F.col("event_type") == SALE)).alias("is_order"),
        "currency",
        "payment_method",
        "source",
        # Grouping columns for the aggregates (kept in the curated fact, not loaded).
        F.col("event_date").alias("date"),
        F.col("_book_id").alias("book_id"),
        F.col("_customer_id").alias("customer_id"),
        F.col("_region_code").alias("region_code"),
        F.col("_channel_code").alias("channel_code"),
        F.coalesce("genre", F.lit(UNKNOWN)).alias("genre"),
        refund.alias("is_refund"),
        F.col("revenue_cents").alias("raw_revenue_cents"),
    )


def totals(events: DataFrame) -> dict[str, int]:
    """Row count and revenue of a DataFrame (the gate's raw-side reconciliation figures)."""
    row = events.agg(F.count(F.lit(1)).alias("rows"), F.sum("revenue_cents").alias("revenue")).first()
    assert row is not None
    return {"rows": int(row["rows"]), "revenue_cents": int(row["revenue"] or 0)}
