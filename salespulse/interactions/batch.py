"""The batch funnel: daily counts from the raw interactions zone into ``warehouse_meta.agg_daily_funnel``.

The raw zone is the master dataset: a replayed consumer batch or a producer
retry can leave an interaction in it twice, so counting starts with a dedup
on ``interaction_id``.  Counts are per (date, genre, channel) so the API can
sum them by genre, by channel or in total; the funnel's purchases are not
stored here but read from the warehouse's order aggregates at serving time,
so the funnel and the sales pages never disagree.

The load replaces the days it computed in one transaction (DELETE + COPY),
so a rerun is idempotent and readers never see a half-loaded day.  Types are
the Redshift-compatible ones of CONTRACTS.md.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from salespulse.interactions.funnel import MEASURE_OF_KIND, MEASURES
from salespulse.reference import UNKNOWN, Catalogue

META_SCHEMA = "warehouse_meta"
TABLE = "agg_daily_funnel"
QUALIFIED = f"{META_SCHEMA}.{TABLE}"
COLUMNS = ("date", "genre", "channel", *MEASURES)
DDL = (
    f"CREATE TABLE IF NOT EXISTS {QUALIFIED} ("
    "date DATE NOT NULL, genre VARCHAR(64) NOT NULL, channel VARCHAR(64) NOT NULL, "
    "views BIGINT NOT NULL, carts BIGINT NOT NULL, removes BIGINT NOT NULL, checkouts BIGINT NOT NULL)"
)
_READ = ["interaction_id", "kind", "event_date", "product_id", "channel"]


@dataclass(frozen=True)
class FunnelRows:
    """Result of one computation: the rows and how many raw rows they came from."""

    table: pa.Table  # COLUMNS
    rows_raw: int
    rows_deduped: int
    days: list[date]


def raw_files(raw_dir: Path, start: date | None = None, end: date | None = None) -> list[Path]:
    """Committed files of the partitions in ``[start, end]`` (temporary dot-files skipped)."""
    out = []
    if not raw_dir.is_dir():
        return out
    for part in sorted(raw_dir.glob("event_date=*")):
        day = date.fromisoformat(part.name.split("=", 1)[1])
        if (start is None or day >= start) and (end is None or day <= end):
            out.extend(sorted(p for p in part.glob("*.parquet") if not p.name.startswith(".")))
    return out


def read_raw(files: Iterable[Path]) -> pa.Table:
    tables = [pq.read_table(f, columns=_READ) for f in files]
    if not tables:
        return pa.table(
            {
                "interaction_id": pa.array([], pa.string()),
                "kind": pa.array([], pa.string()),
                "event_date": pa.array([], pa.date32()),
                "product_id": pa.array([], pa.string()),
                "channel": pa.array([], pa.string()),
            }
        )
    return pa.concat_tables(tables)


def dedup(table: pa.Table) -> pa.Table:
    """One row per ``interaction_id`` (duplicates are copies of the same event: keep the first)."""
    if table.num_rows == 0:
        return table
    _, first = np.unique(table.column("interaction_id").to_numpy(zero_copy_only=False), return_index=True)
    return table.take(pa.array(np.sort(first)))


def genre_column(product_ids: pa.ChunkedArray | pa.Array, catalogue: Catalogue) -> pa.Array:
    """Genre of each product from the shared catalogue; ``unknown`` for ids it does not hold."""
    idx = pc.index_in(product_ids, value_set=pa.array(catalogue.book_id.tolist(), pa.string()))
    genres = pa.array([*catalogue.genre.tolist(), UNKNOWN], pa.string())
    return pc.take(genres, pc.fill_null(idx, len(genres) - 1))


def daily_counts(table: pa.Table, catalogue: Catalogue) -> pa.Table:
    """Deduplicated interactions -> one row per (date, genre, channel) with the four measures."""
    t = table.append_column("genre", genre_column(table.column("product_id"), catalogue))
    grouped = t.group_by(["event_date", "genre", "channel", "kind"]).aggregate([("interaction_id", "count")])
    rows: dict[tuple[Any, str, str], dict[str, int]] = {}
    for d, g, ch, kind, n in zip(
        *(
            grouped.column(c).to_pylist()
            for c in ("event_date", "genre", "channel", "kind", "interaction_id_count")
        ),
        strict=True,
    ):
        measure = MEASURE_OF_KIND.get(kind)
        if measure is not None:  # the consumer only writes valid kinds; be safe with foreign files
            rows.setdefault((d, g, ch), dict.fromkeys(MEASURES, 0))[measure] += n
    keys = sorted(rows)
    return pa.table(
        {
            "date": pa.array([k[0] for k in keys], pa.date32()),
            "genre": pa.array([k[1] for k in keys], pa.string()),
            "channel": pa.array([k[2] for k in keys], pa.string()),
            **{m: pa.array([rows[k][m] for k in keys], pa.int64()) for m in MEASURES},
        }
    )


def compute(
    raw_dir: Path, catalogue: Catalogue, start: date | None = None, end: date | None = None
) -> FunnelRows:
    """Read, dedup and count the raw interactions of ``[start, end]`` (all days when open)."""
    raw = read_raw(raw_files(raw_dir, start, end))
    unique = dedup(raw)
    counts = daily_counts(unique, catalogue)
    days = sorted(set(counts.column("date").to_pylist()))
    return FunnelRows(counts, raw.num_rows, unique.num_rows, days)


def _csv(table: pa.Table) -> io.StringIO:
    buf = io.StringIO()
    cols = [table.column(c).to_pylist() for c in COLUMNS]
    for row in zip(*cols, strict=True):
        buf.write("\t".join(str(v) for v in row) + "\n")
    buf.seek(0)
    return buf


def load(conn: Any, rows: FunnelRows, start: date | None = None, end: date | None = None) -> int:
    """Replace the range's days with ``rows`` in one transaction (COPY); returns rows loaded.

    With an open range the whole table is replaced (a full rebuild from the lake).
    """
    with conn, conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {META_SCHEMA}")
        cur.execute(DDL)
        cur.execute("SET LOCAL lock_timeout = '5s'")
        if start is None and end is None:
            cur.execute(f"DELETE FROM {QUALIFIED}")
        else:
            cur.execute(
                f"DELETE FROM {QUALIFIED} WHERE date BETWEEN %s AND %s",
                [start or date(1, 1, 1), end or date(9999, 12, 31)],
            )
        cur.copy_expert(f"COPY {QUALIFIED} ({', '.join(COLUMNS)}) FROM STDIN", _csv(rows.table))
    return rows.table.num_rows


def warehouse_orders(conn: Any, pg_schema: str, start: date, end: date) -> int | None:
    """Orders in ``[start, end]`` from the published warehouse, ``None`` when it has none yet."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", [f"{pg_schema}.agg_daily_sales"])
        if cur.fetchone()[0] is None:
            conn.rollback()
            return None
        cur.execute(
            f"SELECT SUM(orders) FROM {pg_schema}.agg_daily_sales WHERE date BETWEEN %s AND %s", [start, end]
        )
        value = cur.fetchone()[0]
    conn.rollback()
    return int(value or 0)
