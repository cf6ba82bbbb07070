"""Read-only SQL on the warehouse for the staff Explore page: a restricted role, limits, an audit log.

Three layers, strongest last:

1. :func:`salespulse.adhoc.guard.check_readonly_sql` refuses anything but one SELECT/WITH with
   a message that names why (the user-facing part).
2. The query runs through a server-side cursor (``DECLARE ... CURSOR FOR``: PostgreSQL itself
   accepts only one SELECT/VALUES there) in a ``READ ONLY`` transaction with a
   ``statement_timeout``, and only ``row_cap + 1`` rows are ever fetched, so a huge result
   costs the server a cursor, not the web process its memory.
3. It runs as :data:`READER_ROLE`, which has ``USAGE`` on the warehouse schema and ``SELECT`` on
   its tables, nothing else; default privileges cover tables created later.  This is the real
   guarantee: even a statement that slipped past the guard cannot write.

Every request, refused or not, appends a row to ``warehouse_meta.query_audit`` (written with the
owner's connection; the reader role cannot touch it).

The batch publish swaps a freshly built schema in, and privileges belong to the schema object,
so a publish drops the reader's grants.  :func:`run_readonly_query` therefore re-applies them
(once) when the reader is denied; the publish step can also run :func:`reader_grant_statements`
inside its swap transaction so the page never sees the gap.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import psycopg2
import psycopg2.errors
from psycopg2.extensions import connection, make_dsn, parse_dsn

from salespulse.adhoc.guard import QueryRefused, check_readonly_sql
from salespulse.services import urls
from salespulse.services.base import secret
from salespulse.settings import Settings, get_settings

log = logging.getLogger(__name__)

READER_ROLE = "salespulse_reader"
META_SCHEMA = "warehouse_meta"
AUDIT_TABLE = "query_audit"
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_ROW_CAP = 1000
#: A backstop for sessions of the role opened outside this module.
ROLE_STATEMENT_TIMEOUT = "60s"
SQL_TEXT_BYTES = 20_000
ERROR_BYTES = 2_000

#: Redshift-compatible (no TEXT, SERIAL or JSON); VARCHAR lengths are bytes there, so values
#: are cut to that many UTF-8 bytes before insert.
AUDIT_DDL = f"""
CREATE TABLE IF NOT EXISTS {META_SCHEMA}.{AUDIT_TABLE} (
  query_id VARCHAR(32) NOT NULL,
  user_name VARCHAR(150) NOT NULL,
  sql_text VARCHAR({SQL_TEXT_BYTES}) NOT NULL,
  started_at TIMESTAMP NOT NULL,
  duration_ms INTEGER NOT NULL,
  row_count INTEGER NOT NULL,
  truncated BOOLEAN NOT NULL,
  status VARCHAR(16) NOT NULL,
  error VARCHAR({ERROR_BYTES})
)"""

# Audit statuses.
OK = "ok"
REFUSED = "refused"


class QueryFailed(RuntimeError):
    """The database did not answer the query; ``code`` is timeout|denied|read_only|sql_error|unavailable."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class QueryResult:
    """What the Explore page renders: at most ``row_cap`` rows, ``truncated`` if there were more."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool
    duration_ms: int
    row_cap: int = DEFAULT_ROW_CAP
    query_id: str = field(default="")

    def as_json(self) -> dict[str, Any]:
        """JSON-ready form: dates ISO, decimals as strings (no float rounding of money)."""
        return {
            "query_id": self.query_id,
            "columns": self.columns,
            "rows": [[_jsonable(v) for v in row] for row in self.rows],
            "truncated": self.truncated,
            "row_cap": self.row_cap,
            "duration_ms": self.duration_ms,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _cut(text: str, max_bytes: int) -> str:
    return text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")


# -- the role ----------------------------------------------------------------------------------


def reader_grant_statements(schema: str, role: str = READER_ROLE) -> list[str]:
    """GRANTs that let ``role`` read every current and future table of ``schema``, and nothing more.

    Pure, so the publish step can run the same statements inside its swap transaction.
    """
    return [
        f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"',
        f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"',
        f'ALTER DEFAULT PRIVILEGES IN SCHEMA "{schema}" GRANT SELECT ON TABLES TO "{role}"',
    ]


def admin_url(settings: Settings) -> str:
    return urls(settings).database


def reader_dsn(settings: Settings) -> str:
    """The warehouse URL with the reader's credentials (password from the stack's secrets file)."""
    params = parse_dsn(admin_url(settings))
    params.update(user=READER_ROLE, password=secret(settings, "reader_password"))
    return make_dsn(**params)


def _ensure_role(cur: Any, settings: Settings) -> None:
    password = secret(settings, "reader_password")
    attrs = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT"
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (READER_ROLE,))
    verb = "ALTER" if cur.fetchone() else "CREATE"
    # Roles are cluster-wide: another database's stack may have set another password, so the
    # password is always (re)set to the one this stack keeps.
    cur.execute(f'{verb} ROLE "{READER_ROLE}" WITH {attrs} PASSWORD %s', (password,))
    cur.execute(f'ALTER ROLE "{READER_ROLE}" SET default_transaction_read_only = on')
    cur.execute(f"ALTER ROLE \"{READER_ROLE}\" SET statement_timeout = '{ROLE_STATEMENT_TIMEOUT}'")
    cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (settings.pg_schema,))
    if cur.fetchone():
        for statement in reader_grant_statements(settings.pg_schema):
            cur.execute(statement)


def ensure_reader_role(settings: Settings | None = None) -> None:
    """Create or repair :data:`READER_ROLE` and its grants (idempotent, safe to run concurrently).

    Connects with the owner's URL (``DATABASE_URL`` or the embedded one).  If the warehouse
    schema does not exist yet only the role is made; a later call adds the grants.
    """
    s = settings or get_settings()
    for attempt in range(3):
        conn = psycopg2.connect(admin_url(s), connect_timeout=10, application_name="salespulse-explore")
        try:
            with conn, conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (READER_ROLE,))
                _ensure_role(cur, s)
            return
        except (psycopg2.errors.DuplicateObject, psycopg2.errors.UniqueViolation, psycopg2.InternalError):
            # Two databases of one cluster creating the same (cluster-wide) role at once.
            if attempt == 2:
                raise
            time.sleep(0.2 * (attempt + 1))
        finally:
            conn.close()


# -- the audit log -----------------------------------------------------------------------------

_audit_ready: set[str] = set()
_roles_ready: set[str] = set()
_lock = threading.Lock()


def ensure_audit_table(settings: Settings | None = None) -> None:
    s = settings or get_settings()
    conn = psycopg2.connect(admin_url(s), connect_timeout=10, application_name="salespulse-explore")
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{META_SCHEMA}.{AUDIT_TABLE}",))
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {META_SCHEMA}")
            cur.execute(AUDIT_DDL)
    finally:
        conn.close()


@dataclass(frozen=True, slots=True)
class AuditRecord:
    query_id: str
    user_name: str
    sql_text: str
    started_at: datetime  # naive UTC (TIMESTAMP)
    duration_ms: int
    row_count: int
    truncated: bool
    status: str
    error: str | None


def write_audit(record: AuditRecord, settings: Settings | None = None) -> None:
    """Append one audit row (creating the table on first use in this process)."""
    s = settings or get_settings()
    url = admin_url(s)
    if url not in _audit_ready:
        ensure_audit_table(s)
        _audit_ready.add(url)
    conn = psycopg2.connect(url, connect_timeout=10, application_name="salespulse-explore")
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                f"INSERT INTO {META_SCHEMA}.{AUDIT_TABLE} (query_id, user_name, sql_text, started_at, "
                "duration_ms, row_count, truncated, status, error) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    record.query_id,
                    _cut(record.user_name, 150),
                    _cut(record.sql_text, SQL_TEXT_BYTES),
                    record.started_at,
                    record.duration_ms,
                    record.row_count,
                    record.truncated,
                    record.status,
                    _cut(record.error, ERROR_BYTES) if record.error is not None else None,
                ),
            )
    finally:
        conn.close()


def recent_audit(limit: int = 50, settings: Settings | None = None) -> list[AuditRecord]:
    """The newest audit rows first (for a staff "recent queries" list)."""
    s = settings or get_settings()
    ensure_audit_table(s)
    conn = psycopg2.connect(admin_url(s), connect_timeout=10, application_name="salespulse-explore")
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "SELECT query_id, user_name, sql_text, started_at, duration_ms, row_count, truncated, "
                f"status, error FROM {META_SCHEMA}.{AUDIT_TABLE} ORDER BY started_at DESC LIMIT %s",
                (limit,),
            )
            return [AuditRecord(*row) for row in cur.fetchall()]
    finally:
        conn.close()


# -- running a query ---------------------------------------------------------------------------


def connect_reader(settings: Settings, timeout_ms: int) -> connection:
    """A session of the reader role: read-only, timed out, standard strings, warehouse on the path.

    ``standard_conforming_strings=on`` is forced so the server lexes strings exactly as the guard.
    """
    idle_ms = max(timeout_ms * 2, 10_000)
    options = (
        f"-c statement_timeout={timeout_ms} -c idle_in_transaction_session_timeout={idle_ms} "
        f"-c default_transaction_read_only=on -c standard_conforming_strings=on "
        f"-c search_path={settings.pg_schema}"
    )
    conn = psycopg2.connect(
        reader_dsn(settings), connect_timeout=10, application_name="salespulse-explore", options=options
    )
    conn.set_session(readonly=True, autocommit=False)
    return conn


def _fetch(settings: Settings, statement: str, timeout_ms: int, row_cap: int) -> tuple[list[str], list[Any]]:
    conn = connect_reader(settings, timeout_ms)
    try:
        # A named (server-side) cursor: DECLARE accepts one SELECT/VALUES only, and FETCH brings
        # back row_cap + 1 rows at most, however large the result.
        with conn.cursor(name=f"explore_{uuid.uuid4().hex[:12]}") as cur:
            cur.itersize = row_cap + 1
            cur.execute(statement)
            rows = cur.fetchmany(row_cap + 1)
            columns = [d.name for d in cur.description or ()]
        conn.rollback()
        return columns, rows
    finally:
        conn.close()


def _failure(exc: psycopg2.Error, settings: Settings, timeout_ms: int) -> QueryFailed:
    detail = (getattr(exc, "pgerror", None) or str(exc)).strip().splitlines()[0] if str(exc) else ""
    detail = detail.removeprefix("ERROR:").strip()
    if isinstance(exc, psycopg2.errors.QueryCanceled):
        return QueryFailed(
            "timeout",
            f"the query ran longer than the {timeout_ms / 1000:g} s statement timeout and was cancelled",
        )
    if isinstance(exc, psycopg2.errors.InsufficientPrivilege):
        return QueryFailed(
            "denied",
            f"permission denied: the Explore role can only read tables in schema "
            f"{settings.pg_schema!r} ({detail})",
        )
    if isinstance(exc, psycopg2.errors.ReadOnlySqlTransaction):
        return QueryFailed("read_only", f"refused by the database: the query tries to write ({detail})")
    if isinstance(exc, psycopg2.OperationalError) and not getattr(exc, "pgcode", None):
        return QueryFailed("unavailable", f"the warehouse is not reachable: {detail}")
    return QueryFailed("sql_error", f"the database rejected the query: {detail}")


def _ensure_once(settings: Settings, *, force: bool = False) -> None:
    url = admin_url(settings)
    with _lock:
        if force or url not in _roles_ready:
            try:
                ensure_reader_role(settings)
            except psycopg2.Error as exc:
                raise QueryFailed("unavailable", f"could not prepare the read-only role: {exc}") from exc
            _roles_ready.add(url)


def _run_as_reader(
    settings: Settings, statement: str, timeout_ms: int, row_cap: int
) -> tuple[list[str], list[Any]]:
    """Run as the reader; on a refused login or privilege, repair the role once and retry.

    A publish replaces the warehouse schema (and its grants), and another stack on the same
    cluster may have reset the cluster-wide role's password: both heal here instead of
    failing every query until a restart.
    """
    _ensure_once(settings)
    try:
        return _fetch(settings, statement, timeout_ms, row_cap)
    except psycopg2.errors.QueryCanceled as exc:
        raise _failure(exc, settings, timeout_ms) from exc
    except (
        psycopg2.errors.InsufficientPrivilege,
        psycopg2.errors.UndefinedTable,  # no USAGE on the schema hides it from search_path
        psycopg2.OperationalError,
    ) as exc:
        log.info("reader refused (%s): re-applying role and grants, retrying once", str(exc).strip()[:200])
    except psycopg2.Error as exc:
        raise _failure(exc, settings, timeout_ms) from exc
    _ensure_once(settings, force=True)
    try:
        return _fetch(settings, statement, timeout_ms, row_cap)
    except psycopg2.Error as exc:
        raise _failure(exc, settings, timeout_ms) from exc


def run_readonly_query(
    sql: str,
    user: str | None,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    row_cap: int = DEFAULT_ROW_CAP,
    settings: Settings | None = None,
) -> QueryResult:
    """Run one staff query on the warehouse, read-only, limited and audited.

    Raises :class:`~salespulse.adhoc.guard.QueryRefused` (the guard said no: never sent to the
    database) or :class:`QueryFailed` (timeout, permission denied, SQL error); both carry a
    ``message`` fit to show and are audited like successes.
    """
    s = settings or get_settings()
    if row_cap < 1:
        raise ValueError("row_cap must be >= 1")
    timeout_ms = max(1, int(timeout_s * 1000))
    query_id = uuid.uuid4().hex
    started = datetime.now(UTC).replace(tzinfo=None)
    t0 = time.monotonic()
    status, error, result = OK, None, None
    try:
        statement = check_readonly_sql(sql)
        columns, rows = _run_as_reader(s, statement, timeout_ms, row_cap)
        truncated = len(rows) > row_cap
        result = QueryResult(
            columns=columns,
            rows=[tuple(r) for r in rows[:row_cap]],
            truncated=truncated,
            duration_ms=int((time.monotonic() - t0) * 1000),
            row_cap=row_cap,
            query_id=query_id,
        )
        return result
    except QueryRefused as exc:
        status, error = REFUSED, exc.message
        raise
    except QueryFailed as exc:
        status, error = exc.code, exc.message
        raise
    except Exception as exc:
        status, error = "error", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        record = AuditRecord(
            query_id=query_id,
            user_name=user or "anonymous",
            sql_text=sql,
            started_at=started,
            duration_ms=result.duration_ms if result else int((time.monotonic() - t0) * 1000),
            row_count=len(result.rows) if result else 0,
            truncated=result.truncated if result else False,
            status=status,
            error=error,
        )
        try:
            write_audit(record, s)
        except psycopg2.Error:
            log.exception("could not write the query audit record %s", query_id)
