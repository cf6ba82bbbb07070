"""Read-only warehouse SQL against the real PostgreSQL: the role, the limits and the audit log."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg2
import psycopg2.errors
import pytest

from salespulse.adhoc import warehouse_sql as ws
from salespulse.adhoc.guard import QueryRefused
from salespulse.settings import Settings, with_overrides

DAYS = [(date(2026, 3, d), 1000 * d, d, 2 * d, 3 * d, d % 2) for d in range(1, 11)]


def _admin(stack: Any) -> psycopg2.extensions.connection:
    conn = psycopg2.connect(stack.database_url)
    conn.autocommit = True
    return conn


def _create_warehouse(stack: Any) -> None:
    schema = stack.settings.pg_schema
    conn = _admin(stack)
    with conn.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        cur.execute(f"CREATE SCHEMA {schema}")
        cur.execute(
            f"CREATE TABLE {schema}.agg_daily_sales (date DATE, revenue_cents BIGINT, orders BIGINT, "
            "units BIGINT, events BIGINT, refunds BIGINT)"
        )
        cur.executemany(f"INSERT INTO {schema}.agg_daily_sales VALUES (%s, %s, %s, %s, %s, %s)", DAYS)
    conn.close()


@dataclass(frozen=True)
class Warehouse:
    settings: Settings
    database_url: str


@pytest.fixture(scope="module")
def warehouse(stack) -> Iterator[Warehouse]:  # type: ignore[no-untyped-def]
    """A private warehouse schema: the session database is shared with other test modules."""
    wh = Warehouse(with_overrides(stack.settings, pg_schema=f"adhoc_wh_{stack.run_id}"), stack.database_url)
    _create_warehouse(wh)
    yield wh


def _q(wh: Warehouse, sql: str, user: str, **kwargs: Any) -> ws.QueryResult:
    return ws.run_readonly_query(sql, user, settings=wh.settings, **kwargs)


def _count(stack) -> int:  # type: ignore[no-untyped-def]
    conn = _admin(stack)
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {stack.settings.pg_schema}.agg_daily_sales")
        n = cur.fetchone()[0]
    conn.close()
    return int(n)


def test_select_returns_exact_rows(warehouse) -> None:  # type: ignore[no-untyped-def]
    result = _q(
        warehouse,
        "SELECT date, revenue_cents FROM agg_daily_sales WHERE date >= '2026-03-08' ORDER BY date;",
        "alice",
    )
    assert result.columns == ["date", "revenue_cents"]
    assert result.rows == [(date(2026, 3, 8), 8000), (date(2026, 3, 9), 9000), (date(2026, 3, 10), 10000)]
    assert result.truncated is False
    assert result.as_json()["rows"][0] == ["2026-03-08", 8000]
    total = _q(warehouse, "SELECT sum(revenue_cents) AS total FROM agg_daily_sales", "alice")
    assert total.rows == [(55000,)]


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("DELETE FROM agg_daily_sales", "write"),
        ("UPDATE agg_daily_sales SET revenue_cents = 0", "write"),
        ("WITH d AS (DELETE FROM agg_daily_sales RETURNING *) SELECT count(*) FROM d", "write"),
        ("DROP TABLE agg_daily_sales", "ddl"),
        ("TRUNCATE agg_daily_sales", "write"),
        ("SELECT 1; DELETE FROM agg_daily_sales", "multiple_statements"),
        ("SELECT 1 -- harmless\n; DROP TABLE agg_daily_sales", "multiple_statements"),
        ("SELECT 'x\\'; DELETE FROM agg_daily_sales; --'", "multiple_statements"),
        ("COPY agg_daily_sales TO STDOUT", "copy"),
        ("SET statement_timeout = 0", "session"),
    ],
)
def test_writes_and_ddl_are_refused_and_nothing_changes(warehouse, sql: str, code: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(QueryRefused) as refused:
        _q(warehouse, sql, "mallory")
    assert refused.value.code == code
    assert _count(warehouse) == len(DAYS)


def test_guard_and_server_agree_on_comments_and_strings(warehouse) -> None:  # type: ignore[no-untyped-def]
    # Nested comment (PostgreSQL nests them): the ';' and DROP are inside it.
    nested = _q(warehouse, "SELECT 1 AS one /* /* */ ; DROP TABLE agg_daily_sales */", "bob")
    assert nested.rows == [(1,)]
    # In an E'' string a backslash escapes the quote, so the ';' is inside the string.
    escaped = _q(warehouse, "SELECT E'a\\'; DELETE FROM t; --' AS s", "bob")
    assert escaped.rows == [("a'; DELETE FROM t; --",)]
    dollar = _q(warehouse, "SELECT $q$;DROP TABLE x;$q$ AS s", "bob")
    assert dollar.rows == [(";DROP TABLE x;",)]
    assert _count(warehouse) == len(DAYS)


def test_statement_timeout_cancels_long_queries(warehouse) -> None:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    with pytest.raises(ws.QueryFailed) as failed:
        _q(warehouse, "SELECT pg_sleep(10)", "carol", timeout_s=1)
    assert failed.value.code == "timeout"
    assert "1 s statement timeout" in failed.value.message
    assert time.monotonic() - t0 < 6


def test_huge_results_are_capped_and_flagged(warehouse) -> None:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    result = _q(warehouse, "SELECT g FROM generate_series(1, 2000000) AS g", "dave", row_cap=1000)
    assert len(result.rows) == 1000
    assert result.rows[0] == (1,) and result.rows[-1] == (1000,)
    assert result.truncated is True
    exact = _q(warehouse, "SELECT g FROM generate_series(1, 1000) AS g", "dave", row_cap=1000)
    assert len(exact.rows) == 1000 and exact.truncated is False
    assert time.monotonic() - t0 < 10


def test_reader_role_cannot_write_even_without_the_guard(warehouse) -> None:  # type: ignore[no-untyped-def]
    ws.ensure_reader_role(warehouse.settings)
    schema = warehouse.settings.pg_schema
    conn = psycopg2.connect(ws.reader_dsn(warehouse.settings))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            # Leave the read-only default behind: only privileges stand in the way now.
            cur.execute("SET default_transaction_read_only = off")
            cur.execute(f"SELECT count(*) FROM {schema}.agg_daily_sales")
            assert cur.fetchone() == (len(DAYS),)
            for statement in (
                f"INSERT INTO {schema}.agg_daily_sales VALUES ('2026-04-01', 1, 1, 1, 1, 0)",
                f"UPDATE {schema}.agg_daily_sales SET revenue_cents = 0",
                f"DELETE FROM {schema}.agg_daily_sales",
                f"TRUNCATE {schema}.agg_daily_sales",
                f"CREATE TABLE {schema}.evil (x INTEGER)",
                f"DROP TABLE {schema}.agg_daily_sales",
                "CREATE TABLE public.evil (x INTEGER)",
                f"SELECT * FROM {ws.META_SCHEMA}.{ws.AUDIT_TABLE}",
            ):
                with pytest.raises(
                    psycopg2.errors.InsufficientPrivilege, match=r"permission denied|must be owner"
                ):
                    cur.execute(statement)
    finally:
        conn.close()
    assert _count(warehouse) == len(DAYS)


def test_audit_table_is_denied_through_the_page(warehouse) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ws.QueryFailed) as failed:
        _q(warehouse, f"SELECT * FROM {ws.META_SCHEMA}.{ws.AUDIT_TABLE}", "erin")
    assert failed.value.code == "denied"
    assert "permission denied" in failed.value.message


def test_tables_created_later_and_a_swapped_schema_stay_readable(warehouse) -> None:  # type: ignore[no-untyped-def]
    schema = warehouse.settings.pg_schema
    _q(warehouse, "SELECT 1", "frank")  # role and grants in place
    conn = _admin(warehouse)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {schema}.agg_later (x INTEGER)")
        cur.execute(f"INSERT INTO {schema}.agg_later VALUES (7)")
    assert _q(warehouse, "SELECT x FROM agg_later", "frank").rows == [(7,)]
    # A publish swaps in a new schema object: its grants are gone until re-applied.
    with conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {schema}_staging")
        cur.execute(
            f"CREATE TABLE {schema}_staging.agg_daily_sales AS SELECT * FROM {schema}.agg_daily_sales"
        )
        cur.execute(f"ALTER SCHEMA {schema} RENAME TO {schema}_old")
        cur.execute(f"ALTER SCHEMA {schema}_staging RENAME TO {schema}")
        cur.execute(f"DROP SCHEMA {schema}_old CASCADE")
    conn.close()
    result = _q(warehouse, "SELECT count(*) FROM agg_daily_sales", "frank")
    assert result.rows == [(len(DAYS),)]


def test_every_request_is_audited(warehouse) -> None:  # type: ignore[no-untyped-def]
    marker = f"audit-{time.time_ns()}"
    _q(warehouse, f"SELECT '{marker}' AS m", "grace")
    with pytest.raises(QueryRefused):
        _q(warehouse, f"DROP TABLE agg_daily_sales -- {marker}", "grace")
    with pytest.raises(ws.QueryFailed):
        _q(warehouse, f"SELECT no_such_column, '{marker}' FROM agg_daily_sales", "grace")
    mine = [r for r in ws.recent_audit(200, warehouse.settings) if marker in r.sql_text]
    assert [(r.user_name, r.status, r.row_count) for r in reversed(mine)] == [
        ("grace", "ok", 1),
        ("grace", "refused", 0),
        ("grace", "sql_error", 0),
    ]
    assert mine[1].error is not None and "DROP is DDL" in mine[1].error
    assert "no_such_column" in (mine[0].error or "")
    assert all(r.duration_ms >= 0 for r in mine)
