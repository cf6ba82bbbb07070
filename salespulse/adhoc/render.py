"""Plain-text and CSV rendering of query results (pure; the commands print what these return)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

NULL = "NULL"


def cell(value: Any) -> str:
    """One value as text: NULL for missing, ISO for dates and times, exact decimals."""
    if value is None:
        return NULL
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def table_text(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, max_width: int = 60) -> str:
    """An aligned text table; numbers right-aligned, long cells cut to ``max_width``."""
    texts = [[cell(v) for v in row] for row in rows]
    texts = [[t if len(t) <= max_width else t[: max_width - 1] + "…" for t in row] for row in texts]
    widths = [len(c) for c in columns]
    for row in texts:
        widths = [max(w, len(t)) for w, t in zip(widths, row, strict=True)]
    numeric = [
        all(
            isinstance(r[i], int | float | Decimal) and not isinstance(r[i], bool)
            for r in rows
            if r[i] is not None
        )
        and any(r[i] is not None for r in rows)
        for i in range(len(columns))
    ]

    def line(values: Sequence[str]) -> str:
        return " | ".join(
            v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    out = [line(list(columns)), "-+-".join("-" * w for w in widths)]
    out.extend(line(row) for row in texts)
    return "\n".join(out)


def csv_text(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """RFC 4180 CSV with a header; NULL is an empty field."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else cell(v) for v in row])
    return buffer.getvalue()
