"""The data lake's raw zone: one Arrow schema, one way to write a file.

The raw zone is the master dataset.  Every writer (stream consumer, history
generator, CSV ingestion) produces files with :data:`RAW_SALES_SCHEMA`, under
``raw/sales/source=<source>/event_date=<YYYY-MM-DD>/``, written to a temporary
name and renamed, so a reader never sees a partial file and a rewrite of the
same batch (same name) replaces instead of duplicating.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from salespulse.events import SaleEvent
from salespulse.metrics import revenue_cents_np

SOURCES = ("stream", "generator", "csv")

#: Column order and types of every raw sales file.  Money in cents, discount
#: in basis points, times as UTC milliseconds.
RAW_SALES_SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("event_time", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("event_date", pa.date32(), nullable=False),
        pa.field("order_id", pa.string(), nullable=False),
        pa.field("line_no", pa.int32(), nullable=False),
        pa.field("customer_id", pa.string(), nullable=False),
        pa.field("product_id", pa.string(), nullable=False),
        pa.field("quantity", pa.int32(), nullable=False),
        pa.field("unit_price_cents", pa.int64(), nullable=False),
        pa.field("discount_bp", pa.int32(), nullable=False),
        pa.field("revenue_cents", pa.int64(), nullable=False),
        pa.field("currency", pa.string(), nullable=False),
        pa.field("channel", pa.string(), nullable=False),
        pa.field("region", pa.string(), nullable=False),
        pa.field("payment_method", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        # Where the row came from: "topic/partition/offset", "generator/seed/chunk", "csv/file:line".
        pa.field("origin", pa.string(), nullable=False),
        # When it was ingested (UTC ms): the latest version of a CSV line wins by this.
        pa.field("ingested_at", pa.timestamp("ms", tz="UTC"), nullable=False),
    ]
)


def events_to_table(
    events: Sequence[SaleEvent], source: str, origins: Sequence[str], ingested_at_ms: int
) -> pa.Table:
    """Validated events -> a raw-zone table (one column-wise pass, no per-row dicts)."""
    quantity = np.fromiter((e.quantity for e in events), np.int64, len(events))
    price = np.fromiter((e.unit_price_cents for e in events), np.int64, len(events))
    discount = np.fromiter((e.discount_bp for e in events), np.int64, len(events))
    event_type = [e.event_type for e in events]
    refund = np.fromiter((t == "refund" for t in event_type), bool, len(events))
    times = np.fromiter((e.event_time_ms for e in events), np.int64, len(events))
    columns = {
        "event_id": [e.event_id for e in events],
        "event_type": event_type,
        "event_time": pa.array(times, pa.timestamp("ms", tz="UTC")),
        "event_date": pa.array((times // 86_400_000).astype(np.int32), pa.date32()),
        "order_id": [e.order_id for e in events],
        "line_no": pa.array([e.line_no for e in events], pa.int32()),
        "customer_id": [e.customer_id for e in events],
        "product_id": [e.product_id for e in events],
        "quantity": pa.array(quantity, pa.int32()),
        "unit_price_cents": pa.array(price, pa.int64()),
        "discount_bp": pa.array(discount, pa.int32()),
        "revenue_cents": pa.array(revenue_cents_np(quantity, price, discount, refund), pa.int64()),
        "currency": [e.currency for e in events],
        "channel": [e.channel for e in events],
        "region": [e.region for e in events],
        "payment_method": [e.payment_method for e in events],
        "source": pa.array([source] * len(events), pa.string()),
        "origin": list(origins),
        "ingested_at": pa.array(np.full(len(events), ingested_at_ms, np.int64), pa.timestamp("ms", tz="UTC")),
    }
    return pa.table(columns, schema=RAW_SALES_SCHEMA)


def partition_dir(raw_sales_dir: Path, event_date: str) -> Path:
    return raw_sales_dir / f"event_date={event_date}"


def write_atomic(table: pa.Table, path: Path) -> Path:
    """Write ``table`` to ``path`` via a temporary sibling and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_by_date(table: pa.Table, raw_sales_dir: Path, file_name: str) -> list[Path]:
    """Split ``table`` by ``event_date`` and write one file per date under the same name."""
    if table.num_rows == 0:
        return []
    dates = table.column("event_date")
    written = []
    for day in pc.unique(dates).to_pylist():
        part = table.filter(pc.equal(dates, pa.scalar(day, pa.date32())))
        written.append(write_atomic(part, partition_dir(raw_sales_dir, day.isoformat()) / file_name))
    return written


def raw_files(raw_root: Path) -> Iterable[Path]:
    """Every committed raw file (temporary files start with a dot and are skipped)."""
    return sorted(p for p in raw_root.rglob("*.parquet") if not p.name.startswith("."))
