"""Aggregates for the API, from the enriched fact (pure DataFrame functions).

Every measure is additive (``orders`` counts first sale lines, see
:func:`salespulse.metrics.counts_as_order`), so monthly tables are sums of
daily ones, a range total is a sum of rows, and an incremental run can
replace whole days and re-sum the months they touch.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from salespulse.warehouse import ddl


def _measure(name: str) -> Column:
    if name == "revenue_cents":
        return F.sum("revenue_cents").cast("long").alias(name)
    if name == "raw_revenue_cents":  # the writer's figure, reconciled by the quality gate
        return F.sum("raw_revenue_cents").cast("long").alias(name)
    if name == "units":
        return F.sum("units").cast("long").alias(name)
    if name == "events":
        return F.count(F.lit(1)).cast("long").alias(name)
    if name == "orders":
        return F.sum(F.col("is_order").cast("long")).cast("long").alias(name)
    if name == "refunds":
        return F.sum(F.col("is_refund").cast("long")).cast("long").alias(name)
    raise ValueError(f"unknown measure {name!r}")


def daily(fact: DataFrame, table: ddl.Table) -> DataFrame:
    """One daily aggregate: group the enriched fact by the table's keys (``date`` first)."""
    keys = list(table.unique)
    return fact.groupBy(*keys).agg(*(_measure(m) for m in table.measures)).select(*table.column_names)


#: Daily aggregates that are re-sums of :func:`slices` (a few hundred rows per day), not of the fact.
SLICE_KEYS = ("date", "region_code", "channel_code", "genre")


def slices(fact: DataFrame) -> DataFrame:
    """Every measure per (date, region, channel, genre): at most ~1K rows a day.

    The four small daily aggregates (totals, by region, genre, channel) are
    re-sums of this one table, so the 10M-row fact is scanned once for all
    four instead of once each; so are the run's row count and the writer's
    revenue (``raw_revenue_cents``) the quality gate reconciles.
    """
    measures = ("revenue_cents", "orders", "units", "events", "refunds", "raw_revenue_cents")
    return fact.groupBy(*SLICE_KEYS).agg(*(_measure(m) for m in measures))


def from_slices(sliced: DataFrame, table: ddl.Table) -> DataFrame:
    """A daily aggregate whose keys are among :data:`SLICE_KEYS`, re-summed from :func:`slices`."""
    sums = [F.sum(m).cast("long").alias(m) for m in table.measures]
    return sliced.groupBy(*table.unique).agg(*sums).select(*table.column_names)


def by_slices(table: ddl.Table) -> bool:
    """Whether ``table`` can be computed from :func:`slices` (its keys are all slice keys)."""
    return table.monthly_from is None and set(table.unique) <= set(SLICE_KEYS)


def monthly(daily_agg: DataFrame, table: ddl.Table) -> DataFrame:
    """A monthly aggregate as the sum of its daily one (``month`` = first day of the month)."""
    keys = [k for k in table.unique if k != "month"]
    month = F.trunc("date", "month").alias("month")
    sums = [F.sum(m).cast("long").alias(m) for m in table.measures]
    return daily_agg.groupBy(month, *keys).agg(*sums).select(*table.column_names)


def all_aggregates(fact: DataFrame) -> dict[str, DataFrame]:
    """Every aggregate table of :mod:`salespulse.warehouse.ddl` by name (the routes ``build`` takes)."""
    sliced = slices(fact)
    out = {t.name: from_slices(sliced, t) if by_slices(t) else daily(fact, t) for t in ddl.DAILY_AGGS}
    for t in ddl.MONTHLY_AGGS:
        assert t.monthly_from is not None
        out[t.name] = monthly(out[t.monthly_from], t)
    return out
