"""The quality gate: a run that fails any check is never published.

Checks (plain SQL that Redshift also runs):

* reconciliation: deduped raw rows and their revenue (from the Spark build),
  the curated fact Parquet and the loaded fact table agree exactly, and every
  fact row's revenue equals the shared formula (``metrics.revenue_cents_sql``);
* keys: dimension keys and ids unique and not null, fact ``event_id`` unique,
  every fact key found in its dimension;
* aggregates: each sums to the fact table on every measure it carries.

An incremental run is checked twice: its staged days before the merge, and
the merged months inside the publish transaction (see ``publish``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.dataset as pads
from psycopg2.extensions import connection

from salespulse.batch.build import Manifest
from salespulse.metrics import REFUND, revenue_cents_sql
from salespulse.warehouse import ddl

log = logging.getLogger(__name__)

#: SQL of each measure over fct_sales.
FACT_MEASURES = {
    "revenue_cents": "COALESCE(SUM(revenue_cents), 0)",
    "units": "COALESCE(SUM(units), 0)",
    "events": "COUNT(*)",
    "orders": "COALESCE(SUM(CASE WHEN is_order THEN 1 ELSE 0 END), 0)",
    "refunds": f"COALESCE(SUM(CASE WHEN event_type = '{REFUND}' THEN 1 ELSE 0 END), 0)",
}
MEASURES = tuple(FACT_MEASURES)
_FACT_KEYS = (
    ("book_key", ddl.DIM_BOOK),
    ("customer_key", ddl.DIM_CUSTOMER),
    ("region_key", ddl.DIM_REGION),
    ("channel_key", ddl.DIM_CHANNEL),
    ("date_key", ddl.DIM_DATE),
)


class QualityError(RuntimeError):
    """The gate failed; ``failures`` lists every failed check."""

    def __init__(self, failures: list[str]):
        super().__init__("quality gate failed: " + "; ".join(failures))
        self.failures = failures


def curated_totals(fact_dir: Path) -> tuple[int, int]:
    """Rows and revenue of the curated fact Parquet (read with Arrow, independently of Spark)."""
    dataset = pads.dataset(str(fact_dir), format="parquet")
    rows = dataset.count_rows()
    revenue = 0
    for batch in dataset.to_batches(columns=["revenue_cents"]):
        revenue += pc.sum(batch.column(0)).as_py() or 0
    return rows, int(revenue)


def _one(cur, sql: str) -> tuple:  # type: ignore[no-untyped-def]
    cur.execute(sql)
    return tuple(cur.fetchone())


def fact_totals(cur, schema: str, where: str = "") -> dict[str, int]:  # type: ignore[no-untyped-def]
    exprs = ", ".join(FACT_MEASURES.values())
    row = _one(cur, f"SELECT {exprs} FROM {schema}.fct_sales {where}")
    return dict(zip(MEASURES, (int(v) for v in row), strict=True))


def agg_totals(cur, schema: str, table: ddl.Table, where: str = "") -> dict[str, int]:  # type: ignore[no-untyped-def]
    exprs = ", ".join(f"COALESCE(SUM({m}), 0)" for m in table.measures)
    row = _one(cur, f"SELECT {exprs} FROM {schema}.{table.name} {where}")
    return dict(zip(table.measures, (int(v) for v in row), strict=True))


def compare_aggregates(fact: dict[str, int], aggs: dict[str, dict[str, int]], label: str = "") -> list[str]:
    """Every aggregate's totals equal the fact's on its measures (pure; unit-tested)."""
    failures = []
    for name, totals in aggs.items():
        for measure, value in totals.items():
            if value != fact[measure]:
                failures.append(f"{name}.{measure}{label} = {value} but fct_sales gives {fact[measure]}")
    return failures


def check_staging(
    conn: connection, staging: str, published: str | None, manifest: Manifest
) -> tuple[list[str], dict[str, int]]:
    """Run every check on the loaded staging schema; returns (failures, figures).

    ``published`` is the live schema an incremental run merges into (its
    dimensions count when resolving fact keys), None for a full rebuild.
    """
    failures: list[str] = []
    figures: dict[str, int] = {}
    with conn.cursor() as cur:
        fact = fact_totals(cur, staging)
        curated_rows, curated_revenue = curated_totals(Path(manifest.tables["fct_sales"]))
        figures.update(
            raw_rows=manifest.rows_raw,
            deduped_rows=manifest.rows_deduped,
            curated_rows=curated_rows,
            fact_rows=fact["events"],
            raw_revenue_cents=manifest.raw_revenue_cents,
            curated_revenue_cents=curated_revenue,
            fact_revenue_cents=fact["revenue_cents"],
        )
        if not manifest.rows_deduped == curated_rows == fact["events"]:
            failures.append(
                f"row counts differ: deduped raw {manifest.rows_deduped}, curated {curated_rows}, "
                f"warehouse {fact['events']}"
            )
        if not manifest.raw_revenue_cents == curated_revenue == fact["revenue_cents"]:
            failures.append(
                f"revenue differs: deduped raw {manifest.raw_revenue_cents}, curated {curated_revenue}, "
                f"warehouse {fact['revenue_cents']}"
            )
        (bad_revenue,) = _one(
            cur, f"SELECT COUNT(*) FROM {staging}.fct_sales WHERE revenue_cents <> {revenue_cents_sql()}"
        )
        if bad_revenue:
            failures.append(f"{bad_revenue} fact rows whose revenue_cents is not the shared formula")

        failures += _key_checks(cur, staging, published)
        aggs = {t.name: agg_totals(cur, staging, t) for t in ddl.AGGS}
        failures += compare_aggregates(fact, aggs)
    conn.commit()
    return failures, figures


def _key_checks(cur, staging: str, published: str | None) -> list[str]:  # type: ignore[no-untyped-def]
    failures = []
    for table in ddl.DIMS:
        key, member = table.columns[0][0], table.columns[1][0]
        total, keys, members, nulls = _one(
            cur,
            f"SELECT COUNT(*), COUNT(DISTINCT {key}), COUNT(DISTINCT {member}), "
            f"SUM(CASE WHEN {key} IS NULL OR {member} IS NULL THEN 1 ELSE 0 END) FROM {staging}.{table.name}",
        )
        if nulls:
            failures.append(f"{table.name}: {nulls} rows with a null key or id")
        if keys != total or members != total:
            failures.append(f"{table.name}: {total} rows but {keys} distinct keys and {members} distinct ids")
        if published:
            (clash,) = _one(
                cur,
                f"SELECT COUNT(*) FROM {staging}.{table.name} s JOIN {published}.{table.name} p "
                f"ON p.{key} = s.{key} WHERE p.{member} <> s.{member}",
            )
            if clash:
                failures.append(f"{table.name}: {clash} staged keys already used by another id")
    total, distinct = _one(cur, f"SELECT COUNT(*), COUNT(DISTINCT event_id) FROM {staging}.fct_sales")
    if total != distinct:
        failures.append(f"fct_sales: {total - distinct} duplicate event_id")
    for column, dim in _FACT_KEYS:
        key = dim.columns[0][0]
        missing = f"NOT EXISTS (SELECT 1 FROM {staging}.{dim.name} d WHERE d.{key} = f.{column})"
        if published:
            missing += f" AND NOT EXISTS (SELECT 1 FROM {published}.{dim.name} p WHERE p.{key} = f.{column})"
        (orphans,) = _one(
            cur, f"SELECT COUNT(*) FROM {staging}.fct_sales f WHERE f.{column} IS NULL OR {missing}"
        )
        if orphans:
            failures.append(f"fct_sales: {orphans} rows whose {column} is not in {dim.name}")
    return failures


def check_merged(cur, schema: str, first: str, last: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Inside the merge transaction: the merged months' aggregates still sum to the fact.

    ``first``/``last`` are the first day of the first touched month and the
    last day of the last one (ISO dates).
    """
    key_first, key_last = int(first.replace("-", "")), int(last.replace("-", ""))
    fact = fact_totals(cur, schema, f"WHERE date_key BETWEEN {key_first} AND {key_last}")
    aggs = {}
    for t in ddl.AGGS:
        period = "month" if t.monthly_from else "date"
        aggs[t.name] = agg_totals(cur, schema, t, f"WHERE {period} BETWEEN DATE '{first}' AND DATE '{last}'")
    return compare_aggregates(fact, aggs, f" ({first}..{last})")
