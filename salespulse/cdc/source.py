"""PostgreSQL side of the capture: set-up, the replication slot, lookups, the stored position.

Everything that talks SQL to the shop database lives here, so the decoding and
mapping modules stay pure.  The slot is the durable position: PostgreSQL keeps
the WAL from the slot's confirmed LSN on and replays from there after a
restart.  A small state table also records the last confirmed position with
counters, for operators and the ``--status`` report (it is informational; the
slot decides where decoding resumes).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from importlib import resources
from typing import TypeAlias
from urllib.parse import urlsplit

import psycopg2
import psycopg2.extensions
import psycopg2.extras

from salespulse.cdc.mapping import (
    BOOK_TABLE,
    CUSTOMER_TABLE,
    ORDER_TABLE,
    ORDERLINE_TABLE,
    SHOP_TABLES,
    CustomerInfo,
    OrderInfo,
)
from salespulse.cdc.pgoutput import format_lsn, parse_lsn
from salespulse.reference import CURRENCY, UNKNOWN

PUBLICATION = "salespulse_cdc"
SLOT_PREFIX = "salespulse_cdc_"
STATE_TABLE = "salespulse_cdc_state"
#: Tables whose updates and deletes must carry the whole old row.
FULL_IDENTITY_TABLES = (ORDER_TABLE, ORDERLINE_TABLE)

Connection: TypeAlias = psycopg2.extensions.connection


class SetupError(RuntimeError):
    """The database is not ready for capture; the message says what to do."""


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


def slot_name(database: str) -> str:
    """``salespulse_cdc_<db>``: slot names allow only lower-case letters, digits and ``_`` (63 max)."""
    return (SLOT_PREFIX + re.sub(r"[^a-z0-9_]", "_", database.lower()))[:63]


def connect(url: str) -> Connection:
    conn = psycopg2.connect(url, application_name="salespulse-cdc")
    conn.autocommit = True
    return conn


def replication_connection(url: str) -> psycopg2.extras.LogicalReplicationConnection:
    return psycopg2.connect(
        url,
        application_name="salespulse-cdc",
        connection_factory=psycopg2.extras.LogicalReplicationConnection,
    )


def schema_sql() -> str:
    return resources.files("salespulse.cdc").joinpath("schema.sql").read_text()


def apply_schema(conn: Connection) -> None:
    """Create the shop tables from ``schema.sql`` (idempotent); for use without Django."""
    with conn.cursor() as cur:
        cur.execute(schema_sql())


def ensure_capture_setup(conn: Connection) -> None:
    """Publication on the shop tables, full replica identity, and the state table (idempotent)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT c.relname, c.relreplident FROM pg_class c "
            "WHERE c.relname = ANY(%s) AND c.relkind = 'r' AND pg_table_is_visible(c.oid)",
            (list(SHOP_TABLES),),
        )
        found = dict(cur.fetchall())
        missing = [t for t in SHOP_TABLES if t not in found]
        if missing:
            raise SetupError(
                f"shop tables missing: {', '.join(missing)}; run the Django migrations "
                "(`manage.py migrate shop`) or `salespulse cdc --create-schema`"
            )
        for table in FULL_IDENTITY_TABLES:
            if found[table] != "f":
                cur.execute(f"ALTER TABLE {table} REPLICA IDENTITY FULL")
        cur.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (PUBLICATION,))
        if cur.fetchone() is None:
            cur.execute(f"CREATE PUBLICATION {PUBLICATION} FOR TABLE {', '.join(SHOP_TABLES)}")
        else:
            cur.execute("SELECT tablename FROM pg_publication_tables WHERE pubname = %s", (PUBLICATION,))
            published = {row[0] for row in cur.fetchall()}
            for table in SHOP_TABLES:
                if table not in published:
                    cur.execute(f"ALTER PUBLICATION {PUBLICATION} ADD TABLE {table}")
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} ("
            "slot_name text PRIMARY KEY, confirmed_lsn pg_lsn NOT NULL, "
            "last_commit_time timestamptz, events_published bigint NOT NULL DEFAULT 0, "
            "events_skipped bigint NOT NULL DEFAULT 0, updated_at timestamptz NOT NULL DEFAULT now())"
        )


@dataclass(frozen=True, slots=True)
class SlotInfo:
    name: str
    confirmed_lsn: int
    restart_lsn: int
    active_pid: int | None
    current_lsn: int

    @property
    def lag_bytes(self) -> int:
        return max(0, self.current_lsn - self.confirmed_lsn)


def slot_info(conn: Connection, name: str) -> SlotInfo | None:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT confirmed_flush_lsn::text, restart_lsn::text, active_pid, "
            "pg_current_wal_insert_lsn()::text FROM pg_replication_slots WHERE slot_name = %s",
            (name,),
        )
        row = cur.fetchone()
    if row is None:
        return None
    return SlotInfo(name, parse_lsn(row[0]), parse_lsn(row[1]), row[2], parse_lsn(row[3]))


def ensure_slot(conn: Connection, name: str) -> SlotInfo:
    """Create the ``pgoutput`` slot unless it exists; its position starts at 'now'."""
    info = slot_info(conn, name)
    if info is None:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (name,))
        info = slot_info(conn, name)
    assert info is not None
    return info


def drop_slot(conn: Connection, name: str, timeout: float = 30.0) -> bool:
    """Drop the slot (waiting for a departing walsender to let go); ``False`` if it did not exist.

    A forgotten slot pins WAL forever, so tests and ``--drop-slot`` remove theirs.
    """
    deadline = time.monotonic() + timeout
    while True:
        info = slot_info(conn, name)
        if info is None:
            return False
        if info.active_pid is None:
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_drop_replication_slot(%s)", (name,))
                return True
            except psycopg2.errors.ObjectInUse:
                pass
        if time.monotonic() > deadline:
            raise SetupError(f"slot {name} still in use by pid {info.active_pid}")
        time.sleep(0.2)


def current_insert_lsn(conn: Connection) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT pg_current_wal_insert_lsn()::text")
        return parse_lsn(cur.fetchone()[0])


# -- lookups (directory misses) -------------------------------------------------


def load_orders(conn: Connection, pks: set[int]) -> dict[int, OrderInfo]:
    if not pks:
        return {}
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT id, number, customer_id, channel, payment_method, currency FROM {ORDER_TABLE} "
            "WHERE id = ANY(%s)",
            (sorted(pks),),
        )
        return {
            pk: OrderInfo(number, customer, channel, payment, currency or CURRENCY)
            for pk, number, customer, channel, payment, currency in cur.fetchall()
        }


def load_books(conn: Connection, pks: set[int]) -> dict[int, str]:
    if not pks:
        return {}
    with conn.cursor() as cur:
        cur.execute(f"SELECT id, code FROM {BOOK_TABLE} WHERE id = ANY(%s)", (sorted(pks),))
        return {pk: code or UNKNOWN for pk, code in cur.fetchall()}


def load_customers(conn: Connection, pks: set[int]) -> dict[int, CustomerInfo]:
    if not pks:
        return {}
    with conn.cursor() as cur:
        cur.execute(f"SELECT id, code, region FROM {CUSTOMER_TABLE} WHERE id = ANY(%s)", (sorted(pks),))
        return {pk: CustomerInfo(code, region) for pk, code, region in cur.fetchall()}


# -- stored position -------------------------------------------------------------


def store_position(
    conn: Connection,
    slot: str,
    confirmed_lsn: int,
    last_commit_time_ms: int | None,
    published: int,
    skipped: int,
) -> None:
    """Record the confirmed position and add this interval's counters."""
    with conn.cursor() as cur:
        cur.execute(
            f"INSERT INTO {STATE_TABLE} AS s (slot_name, confirmed_lsn, last_commit_time, events_published, "
            "events_skipped, updated_at) VALUES (%s, %s::pg_lsn, to_timestamp(%s / 1000.0), %s, %s, now()) "
            "ON CONFLICT (slot_name) DO UPDATE SET "
            "confirmed_lsn = GREATEST(s.confirmed_lsn, EXCLUDED.confirmed_lsn), "
            "last_commit_time = COALESCE(EXCLUDED.last_commit_time, s.last_commit_time), "
            "events_published = s.events_published + EXCLUDED.events_published, "
            "events_skipped = s.events_skipped + EXCLUDED.events_skipped, updated_at = now()",
            (slot, format_lsn(confirmed_lsn), last_commit_time_ms, published, skipped),
        )


def stored_position(conn: Connection, slot: str) -> dict[str, object] | None:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (STATE_TABLE,))
        if cur.fetchone()[0] is None:
            return None
        cur.execute(
            f"SELECT confirmed_lsn::text, last_commit_time, events_published, events_skipped, updated_at "
            f"FROM {STATE_TABLE} WHERE slot_name = %s",
            (slot,),
        )
        row = cur.fetchone()
    if row is None:
        return None
    keys = ("confirmed_lsn", "last_commit_time", "events_published", "events_skipped", "updated_at")
    return dict(zip(keys, row, strict=True))
