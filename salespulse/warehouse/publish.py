"""Publishing: readers see the old warehouse or the new one, never a mix.

* Full rebuild: the loaded, checked and indexed staging schema replaces the
  published one by two ``ALTER SCHEMA ... RENAME`` and a ``DROP`` in one
  transaction.
* Incremental or backfill: the rebuilt days replace the published ones
  (``DELETE`` those days, ``INSERT`` the staged rows, new dimension members,
  months re-summed from their days) in one transaction, re-checked before
  ``COMMIT``.

Both run under ``lock_timeout`` so a long reader cannot stall the publish
(and everyone queued behind it): on a lock timeout the transaction rolls back
and is retried with back-off.  The run record and the processed-files
inventory are written in the same transaction, so they always match the
published tables.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import TypeVar

from psycopg2 import errors
from psycopg2.extensions import connection

from salespulse.batch.build import Manifest
from salespulse.settings import Settings
from salespulse.warehouse import db, ddl, quality, runs

log = logging.getLogger(__name__)
T = TypeVar("T")

LOCK_TIMEOUT_MS = 5000
ATTEMPTS = 6


def with_retry(conn: connection, work: Callable[[], T], *, attempts: int = ATTEMPTS) -> T:
    """Run ``work`` (one transaction on ``conn``), retrying on lock timeouts with back-off."""
    delay = 0.5
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except (errors.LockNotAvailable, errors.DeadlockDetected) as exc:
            conn.rollback()
            if attempt == attempts:
                raise
            log.warning(
                "publish: %s (attempt %d/%d), retrying in %.1fs", exc.pgcode, attempt, attempts, delay
            )
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
    raise AssertionError("unreachable")


def _begin(cur) -> None:  # type: ignore[no-untyped-def]
    cur.execute(f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}")


def _record(cur, manifest: Manifest, pg_schema: str, steps: dict[str, float], rows_fact: int) -> None:  # type: ignore[no-untyped-def]
    runs.replace_files(cur, pg_schema, manifest.run_id, manifest.files, manifest.dates)
    cur.execute(
        f"UPDATE {runs.META}.batch_runs SET status = %s, finished_at = %s, rows_raw = %s, rows_deduped = %s, "
        "rows_fact = %s, revenue_cents = %s, steps = %s WHERE run_id = %s",
        (
            runs.PUBLISHED,
            runs.now(),
            manifest.rows_raw,
            manifest.rows_deduped,
            rows_fact,
            manifest.raw_revenue_cents,
            _json(steps),
            manifest.run_id,
        ),
    )


def _json(steps: dict[str, float]) -> str:
    import json

    return json.dumps(steps)[:4000]


def swap(
    conn: connection,
    published: str,
    staging: str,
    manifest: Manifest,
    steps: dict[str, float],
    rows_fact: int,
) -> None:
    """Full rebuild: staging becomes the published schema in one transaction."""
    previous = f"{published}_previous"

    def work() -> None:
        with conn.cursor() as cur:
            _begin(cur)
            (owner,) = _fetch(cur, f"SELECT run_id FROM {staging}.batch_info")
            if owner != manifest.run_id:
                raise RuntimeError(f"staging holds run {owner}, not {manifest.run_id}")
            cur.execute(f"DROP SCHEMA IF EXISTS {previous} CASCADE")
            if db.schema_exists(conn, published):
                cur.execute(f"ALTER SCHEMA {published} RENAME TO {previous}")
            cur.execute(f"ALTER SCHEMA {staging} RENAME TO {published}")
            cur.execute(f"DROP SCHEMA IF EXISTS {previous} CASCADE")
            _record(cur, manifest, published, steps, rows_fact)
        conn.commit()

    with_retry(conn, work)


def _fetch(cur, sql: str) -> tuple:  # type: ignore[no-untyped-def]
    cur.execute(sql)
    row = cur.fetchone()
    if row is None:
        raise RuntimeError(f"no row from: {sql}")
    return tuple(row)


def month_bounds(days: list[date]) -> tuple[list[date], date, date]:
    """Months touched by ``days`` (first days), and the first and last day they span."""
    months = sorted({d.replace(day=1) for d in days})
    last = months[-1]
    following = date(last.year + (last.month == 12), last.month % 12 + 1, 1)
    return months, months[0], date.fromordinal(following.toordinal() - 1)


def merge(
    conn: connection,
    published: str,
    staging: str,
    manifest: Manifest,
    steps: dict[str, float],
    rows_fact: int,
) -> None:
    """Incremental/backfill: replace the rebuilt days of the published tables in one transaction."""
    assert manifest.dates is not None
    days = sorted(date.fromisoformat(d) for d in manifest.dates)

    def work() -> None:
        with conn.cursor() as cur:
            _begin(cur)
            (owner,) = _fetch(cur, f"SELECT run_id FROM {staging}.batch_info")
            if owner != manifest.run_id:
                raise RuntimeError(f"staging holds run {owner}, not {manifest.run_id}")
            if days:
                _merge_days(cur, published, staging, days)
            cur.execute(
                f"UPDATE {published}.batch_info SET run_id = %s, mode = %s, watermark = %s, loaded_at = %s",
                (manifest.run_id, manifest.mode, manifest.watermark, runs.now()),
            )
            _record(cur, manifest, published, steps, rows_fact)
        conn.commit()

    with_retry(conn, work)


def _merge_days(cur, published: str, staging: str, days: list[date]) -> None:  # type: ignore[no-untyped-def]
    day_list = ", ".join(f"DATE '{d}'" for d in days)
    key_list = ", ".join(d.strftime("%Y%m%d") for d in days)
    for table in ddl.DIMS:
        key = table.columns[0][0]
        cols = ", ".join(table.column_names)
        cur.execute(
            f"INSERT INTO {published}.{table.name} ({cols}) SELECT {cols} FROM {staging}.{table.name} s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {published}.{table.name} p WHERE p.{key} = s.{key})"
        )
    cur.execute(f"DELETE FROM {published}.fct_sales WHERE date_key IN ({key_list})")
    (clash,) = _fetch(
        cur,
        f"SELECT COUNT(*) FROM {staging}.fct_sales s JOIN {published}.fct_sales p ON p.event_id = s.event_id",
    )
    if clash:
        raise quality.QualityError([f"{clash} staged event_ids are already published on other days"])
    cols = ", ".join(ddl.FCT_SALES.column_names)
    cur.execute(f"INSERT INTO {published}.fct_sales ({cols}) SELECT {cols} FROM {staging}.fct_sales")
    for table in ddl.DAILY_AGGS:
        cols = ", ".join(table.column_names)
        cur.execute(f"DELETE FROM {published}.{table.name} WHERE date IN ({day_list})")
        cur.execute(
            f"INSERT INTO {published}.{table.name} ({cols}) SELECT {cols} FROM {staging}.{table.name}"
        )
    months, first, last = month_bounds(days)
    month_list = ", ".join(f"DATE '{m}'" for m in months)
    for table in ddl.MONTHLY_AGGS:
        keys = [k for k in table.unique if k != "month"]
        cols = ", ".join(table.column_names)
        sums = ", ".join(f"SUM({m})" for m in table.measures)
        key_sql = "".join(f", {k}" for k in keys)
        cur.execute(f"DELETE FROM {published}.{table.name} WHERE month IN ({month_list})")
        cur.execute(
            f"INSERT INTO {published}.{table.name} ({cols}) "
            f"SELECT CAST(DATE_TRUNC('month', date) AS DATE){key_sql}, {sums} "
            f"FROM {published}.{table.monthly_from} WHERE date BETWEEN DATE '{first}' AND DATE '{last}' "
            f"GROUP BY CAST(DATE_TRUNC('month', date) AS DATE){key_sql}"
        )
    failures = quality.check_merged(cur, published, first.isoformat(), last.isoformat())
    if failures:
        raise quality.QualityError(failures)


def build_indexes(settings: Settings, schema: str, *, workers: int = 2, analyze_tables: bool = True) -> None:
    """PostgreSQL indexes on the date of each table and the keys the API filters by, then ANALYZE
    (unless the loader analyzed every table already: ``analyze_tables=False``)."""
    with db.connected(settings) as conn:
        if db.is_redshift(conn):
            return
    statements = [
        ddl.index_sql(schema, table, cols) for table, indexes in ddl.INDEXES.items() for cols in indexes
    ]
    # Biggest tables first, so the two workers finish together.
    order = {t.name: i for i, t in enumerate(ddl.CURATED)}
    statements.sort(key=lambda s: order.get(s.split(" ON ")[1].split(".")[1].split(" ")[0], 99))

    def run(sql: str) -> None:
        with db.connected(settings) as conn, conn.cursor() as cur:
            cur.execute("SET maintenance_work_mem = '256MB'")
            cur.execute(sql)
            conn.commit()

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="index") as pool:
        list(pool.map(run, statements))
    analyze(settings, schema, [t.name for t in ddl.ALL] if analyze_tables else [ddl.BATCH_INFO.name])


def analyze(settings: Settings, schema: str, tables: list[str]) -> None:
    with db.connected(settings) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            for name in tables:
                cur.execute(f"ANALYZE {schema}.{name}")
