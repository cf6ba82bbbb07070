"""Connections to the warehouse database and the PostgreSQL-only session settings."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg2
from psycopg2.extensions import connection

from salespulse import services
from salespulse.settings import Settings


def database_url(settings: Settings) -> str:
    """The configured DATABASE_URL, or the embedded PostgreSQL's."""
    return services.urls(settings).database


def connect(settings: Settings, *, application: str = "salespulse-batch") -> connection:
    return psycopg2.connect(database_url(settings), application_name=application)


@contextlib.contextmanager
def connected(settings: Settings, **kwargs: str) -> Iterator[connection]:
    conn = connect(settings, **kwargs)
    try:
        yield conn
    finally:
        conn.close()


def scalar(conn: connection, sql: str, params: tuple[object, ...] = ()) -> object:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
    return None if row is None else row[0]


def schema_exists(conn: connection, schema: str) -> bool:
    return bool(scalar(conn, "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (schema,)))


def is_redshift(conn: connection) -> bool:
    return "redshift" in str(scalar(conn, "SELECT version()")).lower()
