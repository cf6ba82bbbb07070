"""Run records in ``warehouse_meta`` (outside the swap, so history survives rebuilds).

``batch_runs`` has one row per run and is updated as steps finish;
``batch_files`` is the inventory of raw files the published warehouse was
built from, replaced in the publish transaction so it always matches.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime

from psycopg2.extensions import connection

from salespulse.batch.plan import RawFile
from salespulse.warehouse import ddl

META = ddl.META_SCHEMA
RUNNING = "running"
PUBLISHED = "published"
FAILED = "failed"
#: A run stopped on purpose after a step (``--steps``) waits in the status of that step.
STEP_STATUS = {"build": "built", "load": "loaded", "check": "checked", "publish": PUBLISHED}


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def ensure_meta(conn: connection) -> None:
    with conn.cursor() as cur:
        for statement in ddl.META_DDL:
            cur.execute(statement)
    conn.commit()


def lock_id(pg_schema: str) -> int:
    """Advisory-lock id of the warehouse schema (one batch run per schema at a time)."""
    return zlib.crc32(f"salespulse-batch:{pg_schema}".encode()) & 0x7FFFFFFF


def try_lock(conn: connection, pg_schema: str) -> bool:
    """Hold the schema's session-level advisory lock on ``conn`` (released when it closes)."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", (lock_id(pg_schema),))
        row = cur.fetchone()
    conn.commit()
    return bool(row and row[0])


def abandon_stale(conn: connection, pg_schema: str) -> int:
    """Mark runs left 'running' by a dead process as failed (call while holding the lock)."""
    with conn.cursor() as cur:
        cur.execute(
            f"UPDATE {META}.batch_runs SET status = %s, finished_at = %s, "
            "error = 'abandoned: the process running it died' WHERE pg_schema = %s AND status = %s",
            (FAILED, now(), pg_schema, RUNNING),
        )
        count = cur.rowcount
    conn.commit()
    return count


@dataclass
class RunRecord:
    run_id: str
    pg_schema: str
    mode: str
    status: str
    watermark: date | None
    range_from: date | None
    range_to: date | None
    steps: dict[str, float]


def start_run(
    conn: connection,
    run_id: str,
    pg_schema: str,
    mode: str,
    watermark: date,
    range_from: date | None,
    range_to: date | None,
) -> None:
    with conn.cursor() as cur:
        cur.execute(
            f"INSERT INTO {META}.batch_runs (run_id, pg_schema, mode, range_from, range_to, status, "
            "started_at, watermark, steps) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (run_id, pg_schema, mode, range_from, range_to, RUNNING, now(), watermark, "{}"),
        )
    conn.commit()


def update_run(conn: connection, run_id: str, **fields: object) -> None:
    """Set columns of a run (``steps`` may be given as a dict); commits."""
    if "steps" in fields and not isinstance(fields["steps"], str):
        fields["steps"] = json.dumps(fields["steps"])[:4000]
    if "error" in fields and fields["error"] is not None:
        fields["error"] = str(fields["error"])[:4000]
    sets = ", ".join(f"{k} = %s" for k in fields)
    with conn.cursor() as cur:
        cur.execute(f"UPDATE {META}.batch_runs SET {sets} WHERE run_id = %s", (*fields.values(), run_id))
    conn.commit()


def get_run(conn: connection, run_id: str) -> RunRecord | None:
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT run_id, pg_schema, mode, status, watermark, range_from, range_to, steps "
            f"FROM {META}.batch_runs WHERE run_id = %s",
            (run_id,),
        )
        row = cur.fetchone()
    if row is None:
        return None
    return RunRecord(*row[:7], steps=json.loads(row[7] or "{}"))


def latest_run(conn: connection, pg_schema: str, statuses: tuple[str, ...]) -> RunRecord | None:
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT run_id FROM {META}.batch_runs WHERE pg_schema = %s AND status IN %s "
            "ORDER BY started_at DESC LIMIT 1",
            (pg_schema, statuses),
        )
        row = cur.fetchone()
    return get_run(conn, row[0]) if row else None


def processed_files(conn: connection, pg_schema: str) -> list[RawFile]:
    """The raw files the published warehouse was built from."""
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT path, event_date, size_bytes, mtime_ns FROM {META}.batch_files WHERE pg_schema = %s",
            (pg_schema,),
        )
        rows = cur.fetchall()
    return [RawFile(path, day, _source_of(path), size, mtime) for path, day, size, mtime in rows]


def _source_of(path: str) -> str:
    for part in path.split("/"):
        if part.startswith("source="):
            return part.split("=", 1)[1]
    return ""


def replace_files(
    cur, pg_schema: str, run_id: str, files: list[list[object]], dates: list[str] | None
) -> None:  # type: ignore[no-untyped-def]
    """In the publish transaction: record the files of the rebuilt days (every day if ``dates`` is None)."""
    if dates is None:
        cur.execute(f"DELETE FROM {META}.batch_files WHERE pg_schema = %s", (pg_schema,))
    elif dates:
        cur.execute(
            f"DELETE FROM {META}.batch_files WHERE pg_schema = %s AND event_date IN %s",
            (pg_schema, tuple(dates)),
        )
    if not files:
        return
    import io

    buf = io.StringIO()
    for path, day, size, mtime in files:
        buf.write(f"{pg_schema}\t{_tsv(str(path))}\t{day}\t{size}\t{mtime}\t{run_id}\n")
    buf.seek(0)
    cur.copy_expert(
        f"COPY {META}.batch_files (pg_schema, path, event_date, size_bytes, mtime_ns, run_id) FROM STDIN",
        buf,
    )


def _tsv(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def supersede_waiting(conn: connection, pg_schema: str, run_id: str) -> int:
    """A new build replaces staging: runs still waiting for their next step can never publish."""
    with conn.cursor() as cur:
        cur.execute(
            f"UPDATE {META}.batch_runs SET status = %s, finished_at = %s, error = %s "
            "WHERE pg_schema = %s AND status IN ('built', 'loaded', 'checked') AND run_id <> %s",
            (FAILED, now(), f"superseded by run {run_id}", pg_schema, run_id),
        )
        count = cur.rowcount
    conn.commit()
    return count
