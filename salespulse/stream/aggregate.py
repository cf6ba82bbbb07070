"""Pre-aggregation of one batch of raw-zone rows into speed-view deltas.

Redis absorbs a batch far faster when it receives one increment per
(view, key, member) instead of one per event, so each batch is reduced here
with Arrow's C++ group-by before it goes near Redis.  The input is the very
table the lake sink writes (``lake.events_to_table``), so revenue is the
lake's own column (``metrics.revenue_cents_np``), not a second formula.

Everything is bucketed by the event's time (UTC), never by the consumer's clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from salespulse.events import format_event_time
from salespulse.metrics import REFUND, SALE
from salespulse.reference import UNKNOWN, Catalogue

#: Measures of a dimension hash field ``{member}:{measure}`` (CONTRACTS.md).
DIM_MEASURES = ("revenue_cents", "orders", "units", "events")
#: Fields of ``day:{D}:totals``.
TOTAL_FIELDS = ("revenue_cents", "orders", "units", "events", "refunds")
#: Fields of ``minute:{M}``.
MINUTE_FIELDS = ("revenue_cents", "orders", "units", "events")
#: Dimension views by day: view name -> raw-zone column (genre is derived).
DIMENSIONS = {"region": "region", "genre": "genre", "channel": "channel"}
LATEST_ORDERS = 50


@dataclass(frozen=True)
class BookLookup:
    """Book id -> genre and title, as Arrow arrays for vectorised lookups."""

    book_ids: pa.Array
    genres: pa.Array  # one longer than book_ids: the last entry is UNKNOWN
    titles: pa.Array  # likewise, last entry null

    @classmethod
    def from_catalogue(cls, catalogue: Catalogue) -> BookLookup:
        return cls(
            book_ids=pa.array(catalogue.book_id.tolist(), pa.string()),
            genres=pa.array([*catalogue.genre.tolist(), UNKNOWN], pa.string()),
            titles=pa.array([*catalogue.title.tolist(), None], pa.string()),
        )

    def indices(self, product_ids: pa.Array | pa.ChunkedArray) -> pa.Array:
        """Row of each product in the catalogue; unknown ids map to the trailing UNKNOWN row."""
        idx = pc.index_in(product_ids, value_set=self.book_ids)
        return pc.fill_null(idx, len(self.book_ids))


@dataclass
class ViewDeltas:
    """Increments of one batch, keyed the way CONTRACTS.md lays out the Redis views.

    Days are ISO dates, minutes UTC epoch seconds of the minute's start.
    Members whose increments sum to zero are kept: they had events, and the
    views list every member that had one.
    """

    totals: dict[str, dict[str, int]] = field(default_factory=dict)
    book_revenue: dict[str, dict[str, int]] = field(default_factory=dict)
    book_units: dict[str, dict[str, int]] = field(default_factory=dict)
    customer_revenue: dict[str, dict[str, int]] = field(default_factory=dict)
    customer_units: dict[str, dict[str, int]] = field(default_factory=dict)
    dims: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)  # view -> day -> field -> n
    minutes: dict[int, dict[str, int]] = field(default_factory=dict)
    latest: list[dict[str, Any]] = field(default_factory=list)  # newest first
    max_event_time_ms: int | None = None
    events: int = 0

    @property
    def days(self) -> list[str]:
        return sorted(self.totals)


def enrich(table: pa.Table, books: BookLookup) -> pa.Table:
    """Add the derived columns the views need: day, minute, genre, signed units, flags."""
    times = pc.cast(table.column("event_time"), pa.int64())
    is_refund = pc.equal(table.column("event_type"), REFUND)
    is_order = pc.and_(pc.equal(table.column("line_no"), 1), pc.equal(table.column("event_type"), SALE))
    quantity = pc.cast(table.column("quantity"), pa.int64())
    idx = books.indices(table.column("product_id"))
    return pa.table(
        {
            "day": pc.cast(table.column("event_date"), pa.string()),
            "minute": pc.multiply(pc.divide(times, 60_000), 60),
            "product_id": table.column("product_id"),
            "customer_id": table.column("customer_id"),
            "region": table.column("region"),
            "channel": table.column("channel"),
            "genre": pc.take(books.genres, idx),
            "revenue_cents": table.column("revenue_cents"),
            "units": pc.if_else(is_refund, pc.negate(quantity), quantity),
            "orders": pc.cast(is_order, pa.int64()),
            "refunds": pc.cast(is_refund, pa.int64()),
            "one": pa.array(np.ones(table.num_rows, np.int64)),
        }
    )


def _group(table: pa.Table, keys: list[str], measures: tuple[str, ...]) -> pa.Table:
    out = table.group_by(keys, use_threads=False).aggregate([(m, "sum") for m in measures])
    return out.rename_columns({f"{m}_sum": m for m in measures})


def _nested(grouped: pa.Table, outer: str, inner: str, measure: str) -> dict[str, dict[str, int]]:
    result: dict[str, dict[str, int]] = {}
    for o, i, v in zip(
        grouped.column(outer).to_pylist(),
        grouped.column(inner).to_pylist(),
        grouped.column(measure).to_pylist(),
        strict=True,
    ):
        result.setdefault(o, {})[i] = v
    return result


def latest_orders(table: pa.Table, books: BookLookup, n: int = LATEST_ORDERS) -> list[dict[str, Any]]:
    """The ``n`` newest lines of the batch by event time, newest first, as live-feed objects."""
    if table.num_rows == 0:
        return []
    times = pc.cast(table.column("event_time"), pa.int64()).to_numpy()
    k = min(n, len(times))
    # Stable order: event time, then position in the batch (later offset wins a tie).
    order = np.lexsort((np.arange(len(times)), times))[::-1][:k]
    rows = table.take(pa.array(order)).to_pydict()
    idx = books.indices(pa.array(rows["product_id"], pa.string()))
    genres = pc.take(books.genres, idx).to_pylist()
    titles = pc.take(books.titles, idx).to_pylist()
    return [
        {
            "event_id": rows["event_id"][i],
            "order_id": rows["order_id"][i],
            "line_no": rows["line_no"][i],
            "event_time": format_event_time(int(times[order[i]])),
            "book_id": rows["product_id"][i],
            "title": titles[i],
            "genre": genres[i],
            "customer_id": rows["customer_id"][i],
            "region": rows["region"][i],
            "channel": rows["channel"][i],
            "quantity": rows["quantity"][i],
            "revenue_cents": rows["revenue_cents"][i],
            "event_type": rows["event_type"][i],
        }
        for i in range(k)
    ]


def aggregate(table: pa.Table, books: BookLookup) -> ViewDeltas:
    """Reduce a raw-zone table to the increments of every speed view."""
    deltas = ViewDeltas()
    if table.num_rows == 0:
        return deltas
    rows = enrich(table, books)
    deltas.events = table.num_rows
    deltas.max_event_time_ms = int(pc.max(pc.cast(table.column("event_time"), pa.int64())).as_py())

    by_day = _group(rows, ["day"], (*TOTAL_FIELDS[:3], "one", "refunds")).to_pydict()
    for i, day in enumerate(by_day["day"]):
        deltas.totals[day] = {
            "revenue_cents": by_day["revenue_cents"][i],
            "orders": by_day["orders"][i],
            "units": by_day["units"][i],
            "events": by_day["one"][i],
            "refunds": by_day["refunds"][i],
        }

    books_g = _group(rows, ["day", "product_id"], ("revenue_cents", "units"))
    deltas.book_revenue = _nested(books_g, "day", "product_id", "revenue_cents")
    deltas.book_units = _nested(books_g, "day", "product_id", "units")
    cust_g = _group(rows, ["day", "customer_id"], ("revenue_cents", "units"))
    deltas.customer_revenue = _nested(cust_g, "day", "customer_id", "revenue_cents")
    deltas.customer_units = _nested(cust_g, "day", "customer_id", "units")

    for view, column in DIMENSIONS.items():
        g = _group(rows, ["day", column], ("revenue_cents", "orders", "units", "one")).to_pydict()
        per_day: dict[str, dict[str, int]] = {}
        for i, day in enumerate(g["day"]):
            member = g[column][i]
            fields = per_day.setdefault(day, {})
            fields[f"{member}:revenue_cents"] = g["revenue_cents"][i]
            fields[f"{member}:orders"] = g["orders"][i]
            fields[f"{member}:units"] = g["units"][i]
            fields[f"{member}:events"] = g["one"][i]
        deltas.dims[view] = per_day

    by_minute = _group(rows, ["minute"], ("revenue_cents", "orders", "units", "one")).to_pydict()
    for i, minute in enumerate(by_minute["minute"]):
        deltas.minutes[minute] = {
            "revenue_cents": by_minute["revenue_cents"][i],
            "orders": by_minute["orders"][i],
            "units": by_minute["units"][i],
            "events": by_minute["one"][i],
        }

    deltas.latest = latest_orders(table, books)
    return deltas
