"""Explore (staff ad-hoc SQL on the warehouse): the web side of :mod:`salespulse.adhoc.warehouse_sql`.

The guard, the read-only role, the statement timeout, the row cap and the audit log all live in
the shared package; this module only maps its outcomes to HTTP answers, so the view stays thin.

Status codes (documented in django_app/README.md):

* 200: the rows (at most ``row_cap``; ``truncated`` says there were more).
* 400 ``kind=refused``: the guard refused the statement before it reached the database
  (a write, DDL, several statements...), with the guard's ``code`` and ``message``.
* 400 ``kind=failed``: the database refused or cancelled it (``code`` timeout, denied,
  read_only, sql_error).  A timeout is deliberately a 400 and not a 408: 408 means "the client
  was too slow to send its request", and browsers and HTTP libraries may silently re-send a
  request answered with 408, which would run the same expensive query again.
* 503 ``code=unavailable``: the warehouse could not be reached.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from rest_framework import status

from salespulse.adhoc.guard import QueryRefused
from salespulse.adhoc.warehouse_sql import QueryFailed, recent_audit, run_readonly_query

#: Server-side limits; a request may ask for less, never for more.
MAX_TIMEOUT_S = float(os.environ.get("SALESPULSE_EXPLORE_TIMEOUT_S", "5"))
MAX_ROW_CAP = int(os.environ.get("SALESPULSE_EXPLORE_ROW_CAP", "1000"))
AUDIT_ROWS = 25
#: Audit SQL shown in the list is cut here (the full text stays in the table).
AUDIT_SQL_CHARS = 500


@dataclass(frozen=True, slots=True)
class ExploreAnswer:
    """An HTTP status and the JSON body that goes with it."""

    status: int
    body: dict[str, Any]


def explore_query_run(sql: str, user: str, *, timeout_s: float | None, row_cap: int | None) -> ExploreAnswer:
    """Run one staff query and turn the outcome (rows, refusal, failure) into an answer."""
    timeout = min(timeout_s or MAX_TIMEOUT_S, MAX_TIMEOUT_S)
    cap = min(row_cap or MAX_ROW_CAP, MAX_ROW_CAP)
    try:
        result = run_readonly_query(sql, user, timeout_s=timeout, row_cap=cap)
    except QueryRefused as exc:
        return ExploreAnswer(
            status.HTTP_400_BAD_REQUEST,
            {"kind": "refused", "code": exc.code, "message": exc.message, "error": exc.message},
        )
    except QueryFailed as exc:
        code = (
            status.HTTP_503_SERVICE_UNAVAILABLE if exc.code == "unavailable" else status.HTTP_400_BAD_REQUEST
        )
        return ExploreAnswer(
            code, {"kind": "failed", "code": exc.code, "message": exc.message, "error": exc.message}
        )
    return ExploreAnswer(status.HTTP_200_OK, {"kind": "ok", **result.as_json(), "timeout_s": timeout})


def explore_audit_list(limit: int = AUDIT_ROWS) -> list[dict[str, Any]]:
    """The newest audit rows (every staff member's), for the list under the editor."""
    out = []
    for record in recent_audit(limit):
        out.append(
            {
                "query_id": record.query_id,
                "user": record.user_name,
                "sql": record.sql_text[:AUDIT_SQL_CHARS],
                # The audit TIMESTAMP is naive UTC.
                "started_at": record.started_at.isoformat(timespec="seconds") + "Z",
                "duration_ms": record.duration_ms,
                "row_count": record.row_count,
                "truncated": record.truncated,
                "status": record.status,
                "error": record.error,
            }
        )
    return out
