"""The quality gate: a run that fails any check is never published.

Checks (plain SQL that Redshift also runs):

* reconciliation: deduped raw rows and their revenue (from the Spark build),
  the curated fact Parquet and the loaded fact table agree exactly, and every
  fact row's revenue equals the shared formula (``metrics.revenue_cents_sql``);
* keys: dimension keys and ids unique and not null, fact ``event_id`` unique
  (unique indexes, see :func:`unique_checks`), every fact key found in its
  dimension (one scan of the fact, see :func:`fact_scan`);
* aggregates: each sums to the fact table on every measure it carries.

An incremental run is checked twice: its staged days before the merge, and
the merged months inside the publish transaction (see ``publish``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.dataset as pads
from psycopg2 import errors
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
        failures += unique_checks(conn, cur, staging)
        fact, bad_revenue, orphans = fact_scan(cur, staging, published)
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
        if bad_revenue:
            failures.append(f"{bad_revenue} fact rows whose revenue_cents is not the shared formula")
        for (column, dim), count in zip(_FACT_KEYS, orphans, strict=True):
            if count:
                failures.append(f"fct_sales: {count} rows whose {column} is not in {dim.name}")
        if published:
            failures += _key_clashes(cur, staging, published)
        aggs = {t.name: agg_totals(cur, staging, t) for t in ddl.AGGS}
        failures += compare_aggregates(fact, aggs)
    conn.commit()
    return failures, figures


def fact_scan(cur, staging: str, published: str | None) -> tuple[dict[str, int], int, list[int]]:  # type: ignore[no-untyped-def]
    """One pass over the fact: its totals, rows off the revenue formula, and orphan keys per dimension.

    The fact is the one big table, so every check on it shares a single scan
    (hash joins to the small dimensions) instead of one scan per check.  An
    incremental run's keys may also be in the ``published`` dimensions.
    """
    joins, orphans = [], []
    for i, (column, dim) in enumerate(_FACT_KEYS):
        key = dim.columns[0][0]
        joins.append(f"LEFT JOIN {staging}.{dim.name} s{i} ON s{i}.{key} = f.{column}")
        missing = f"s{i}.{key} IS NULL"
        if published:
            joins.append(f"LEFT JOIN {published}.{dim.name} p{i} ON p{i}.{key} = f.{column}")
            missing += f" AND p{i}.{key} IS NULL"
        orphans.append(f"SUM(CASE WHEN {missing} THEN 1 ELSE 0 END)")
    # Measure and formula columns are unqualified: no dimension has a column of those names.
    measures = list(FACT_MEASURES.values())
    bad = f"SUM(CASE WHEN f.revenue_cents <> {revenue_cents_sql()} THEN 1 ELSE 0 END)"
    columns = ", ".join([*measures, bad, *orphans])
    row = _one(cur, f"SELECT {columns} FROM {staging}.fct_sales f {' '.join(joins)}")
    values = [int(v or 0) for v in row]
    n = len(MEASURES)
    return dict(zip(MEASURES, values[:n], strict=True)), values[n], values[n + 1 :]


def unique_checks(conn: connection, cur, staging: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Keys and ids unique: build the unique indexes the published tables keep anyway.

    A unique index build is one sort, the same work as ``COUNT(DISTINCT)``, but
    it is not thrown away (the index step and the incremental merge use it) and
    it keeps rejecting duplicates after publish.  Not-null is the columns'
    ``NOT NULL``.  On Redshift (no indexes) the same check is ``COUNT(DISTINCT)``.
    """
    from salespulse.warehouse import db, ddl

    failures = []
    redshift = db.is_redshift(conn)
    if not redshift:
        cur.execute("SET maintenance_work_mem = '256MB'")
    for table, columns in ddl.gate_indexes():
        cols = ", ".join(columns)
        if redshift:
            total, distinct = _one(cur, f"SELECT COUNT(*), COUNT(DISTINCT {cols}) FROM {staging}.{table}")
            if total != distinct:
                failures.append(f"{table}: {total - distinct} duplicate {cols}")
            continue
        cur.execute("SAVEPOINT gate_unique")
        try:
            cur.execute(ddl.index_sql(staging, table, columns))
        except errors.UniqueViolation as exc:
            cur.execute("ROLLBACK TO SAVEPOINT gate_unique")
            detail = (exc.diag.message_detail or "").strip()
            failures.append(f"{table}: duplicate {cols} ({detail})")
        cur.execute("RELEASE SAVEPOINT gate_unique")
        conn.commit()
    return failures


def _key_clashes(cur, staging: str, published: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Incremental: a staged dimension key already used by another id in the published one."""
    failures = []
    for table in ddl.DIMS:
        key, member = table.columns[0][0], table.columns[1][0]
        (clash,) = _one(
            cur,
            f"SELECT COUNT(*) FROM {staging}.{table.name} s JOIN {published}.{table.name} p "
            f"ON p.{key} = s.{key} WHERE p.{member} <> s.{member}",
        )
        if clash:
            failures.append(f"{table.name}: {clash} staged keys already used by another id")
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
