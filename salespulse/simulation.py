"""Vectorised simulation of realistic sales: one model for the producer and the history generator.

The live producer and the history generator must show the same shape of
business (daily and weekly rhythm, best-seller skew, multi-line orders,
refunds), otherwise the batch and speed layers would look like two different
shops.  Both draw from this module.  Everything is column-wise NumPy driven by
the caller's :class:`numpy.random.Generator`, so the same generator state gives
the same sales on any machine, and 10M lines cost seconds, not minutes (no
per-row Python objects).

Column arrays use the dtypes of :data:`salespulse.lake.RAW_SALES_SCHEMA`:
times as int64 epoch milliseconds, money as int64 cents, discounts as int32
basis points.  :func:`build_lines` returns text columns as ASCII ``bytes``
arrays (dtype ``S``), the cheap form to turn into Arrow; :func:`orders_to_lines`
returns them as ``str`` arrays (dtype ``U``) for callers that want text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from salespulse.lake import RAW_SALES_SCHEMA
from salespulse.metrics import REFUND, SALE, revenue_cents_np
from salespulse.reference import CHANNELS, CURRENCY, PAYMENT_METHODS, PAYMENT_WEIGHTS, Catalogue

HOUR_MS = 3_600_000
DAY_MS = 86_400_000

#: Relative order intensity per UTC hour: night trough, lunch bump, evening peak.
HOURLY_WEIGHTS = np.array(
    [0.45, 0.30, 0.20, 0.15, 0.15, 0.20, 0.35, 0.60, 0.80, 0.90, 1.00, 1.10,
     1.25, 1.20, 1.10, 1.05, 1.10, 1.25, 1.50, 1.75, 1.85, 1.60, 1.10, 0.70],
)  # fmt: skip
#: Relative intensity per weekday, Monday first: weekend uplift.
WEEKDAY_WEIGHTS = np.array([0.95, 0.93, 0.95, 1.00, 1.10, 1.25, 1.20])
#: P(an order has k lines), k = 1..5 (mean about 1.7 lines).
LINES_PER_ORDER_P = np.array([0.60, 0.22, 0.10, 0.05, 0.03])
#: P(quantity = q), q = 1..5: most lines are a single copy.
QUANTITY_P = np.array([0.82, 0.12, 0.04, 0.015, 0.005])
#: Share of lines with a discount, and the discounts offered (basis points).
DISCOUNT_SHARE = 0.15
DISCOUNT_STEPS_BP = np.array([500, 1000, 1500, 2000, 2500], dtype=np.int32)
#: Refunds follow their sale by at least an hour, typically a few days.
REFUND_MIN_DELAY_MS = HOUR_MS
REFUND_MEAN_DELAY_MS = 3 * DAY_MS
REFUND_MAX_DELAY_MS = 30 * DAY_MS

#: Columns produced by the simulation: the raw schema minus what the writer adds.
LINE_COLUMNS = tuple(
    name for name in RAW_SALES_SCHEMA.names if name not in {"event_date", "source", "origin", "ingested_at"}
)
#: The simulation's text columns (ids and dimension codes).
TEXT_COLUMNS = (
    "event_id",
    "event_type",
    "order_id",
    "customer_id",
    "product_id",
    "currency",
    "channel",
    "region",
    "payment_method",
)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
#: byte -> its two hex digits as one little-endian uint16 (so one gather formats a byte).
_HEX_PAIRS = _HEX[np.arange(256) >> 4].astype(np.uint16) | (
    _HEX[np.arange(256) & 0x0F].astype(np.uint16) << 8
)
#: Character positions of the 32 hex digits inside a 36-character UUID.
_UUID_HEX_POS = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])


# -- time ---------------------------------------------------------------------


def hour_weights(start_ms: int, end_ms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hour buckets covering ``[start_ms, end_ms)``: (bucket start, bucket end, weight).

    Partial first and last hours are clipped and weighted by the part inside the window.
    """
    if end_ms <= start_ms:
        raise ValueError(f"empty window: start {start_ms} >= end {end_ms}")
    first, last = start_ms // HOUR_MS, -(-end_ms // HOUR_MS)
    hours = np.arange(first, last, dtype=np.int64)
    lo = np.maximum(hours * HOUR_MS, start_ms)
    hi = np.minimum((hours + 1) * HOUR_MS, end_ms)
    weekday = (hours // 24 + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)
    weight = HOURLY_WEIGHTS[hours % 24] * WEEKDAY_WEIGHTS[weekday] * (hi - lo) / HOUR_MS
    return lo, hi, weight


def rhythm_times_ms(rng: np.random.Generator, start_ms: int, end_ms: int, n: int) -> np.ndarray:
    """``n`` sorted int64 order times in ``[start_ms, end_ms)`` following the daily and weekly rhythm.

    Counts per hour are one multinomial draw over the hour weights (so totals are
    exact), then times are uniform inside each hour.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    lo, hi, weight = hour_weights(start_ms, end_ms)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    counts = rng.multinomial(n, weight / weight.sum())
    base = np.repeat(lo, counts)
    span = np.repeat(hi - lo, counts)
    times = base + (rng.random(n) * span).astype(np.int64)
    times.sort()
    return times


# -- identifiers --------------------------------------------------------------


def _hex_digits(raw: np.ndarray) -> np.ndarray:
    """(n, k) uint8 bytes -> (n, 2k) uint8 ASCII hex digits."""
    pairs = _HEX_PAIRS.astype("<u2")[raw]
    return pairs.view(np.uint8).reshape(raw.shape[0], raw.shape[1] * 2)


def random_uuids(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` version-4 UUID strings (dtype ``S36``) from the generator's bytes, without Python objects."""
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    text[:, _UUID_HEX_POS] = _hex_digits(raw)
    return text.view("S36").ravel()


def random_order_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """``ORD-`` + 16 random hex digits (dtype ``S20``): 64 random bits, collisions negligible."""
    raw = np.frombuffer(rng.bytes(8 * n), dtype=np.uint8).reshape(n, 8)
    text = np.empty((n, 20), dtype=np.uint8)
    text[:, :4] = np.frombuffer(b"ORD-", dtype=np.uint8)
    text[:, 4:] = _hex_digits(raw)
    return text.view("S20").ravel()


# -- catalogue ----------------------------------------------------------------


@dataclass(frozen=True)
class _Prepared:
    """Per-catalogue arrays in sampling-friendly form, computed once per catalogue."""

    book_id: np.ndarray  # S
    list_price: np.ndarray  # int64
    book_cdf: np.ndarray
    customer_id: np.ndarray  # S
    customer_region: np.ndarray  # S
    customer_cdf: np.ndarray


_PREPARED: dict[int, tuple[Catalogue, _Prepared]] = {}


def _prepare(catalogue: Catalogue) -> _Prepared:
    hit = _PREPARED.get(id(catalogue))
    if hit is not None and hit[0] is catalogue:
        return hit[1]
    prepared = _Prepared(
        book_id=catalogue.book_id.astype("S"),
        list_price=catalogue.list_price_cents.astype(np.int64),
        book_cdf=np.cumsum(catalogue.popularity),
        customer_id=catalogue.customer_id.astype("S"),
        customer_region=catalogue.customer_region.astype("S"),
        customer_cdf=np.cumsum(catalogue.customer_activity),
    )
    if len(_PREPARED) >= 4:
        _PREPARED.clear()
    _PREPARED[id(catalogue)] = (catalogue, prepared)
    return prepared


def _sample(rng: np.random.Generator, cdf: np.ndarray, n: int) -> np.ndarray:
    """Indices drawn with probabilities given by the cumulative ``cdf`` (inverse transform)."""
    idx = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
    return np.minimum(idx, len(cdf) - 1)


def _choice(rng: np.random.Generator, values: tuple[str, ...], weights: np.ndarray, n: int) -> np.ndarray:
    table = np.array([v.encode() for v in values])
    return table[_sample(rng, np.cumsum(weights), n)]


# -- lines --------------------------------------------------------------------


def draw_lines_per_order(rng: np.random.Generator, n_orders: int) -> np.ndarray:
    """Number of lines of each order, 1..5 (int64), most orders single-line."""
    return _sample(rng, np.cumsum(LINES_PER_ORDER_P), n_orders).astype(np.int64) + 1


def build_lines(
    rng: np.random.Generator,
    catalogue: Catalogue,
    order_times_ms: np.ndarray,
    lines_per_order: np.ndarray,
    refund_rate: float = 0.02,
) -> dict[str, np.ndarray]:
    """Sale lines of the given orders plus their refunds, sorted by event time (text as ``S``).

    The fast path behind :func:`orders_to_lines`: the caller chooses how many
    lines each order has (the history generator needs an exact total of sale
    lines).  Order-level attributes (customer, region, channel, payment) are
    drawn once per order and repeated over its lines.
    """
    prep = _prepare(catalogue)
    order_times_ms = np.asarray(order_times_ms, dtype=np.int64)
    lines_per_order = np.asarray(lines_per_order, dtype=np.int64)
    n_orders = len(order_times_ms)
    if len(lines_per_order) != n_orders:
        raise ValueError("order_times_ms and lines_per_order differ in length")
    if n_orders and lines_per_order.min() < 1:
        raise ValueError("every order needs at least one line")
    if not 0.0 <= refund_rate <= 1.0:
        raise ValueError(f"refund_rate must be in [0, 1], got {refund_rate}")

    # Orders.
    order_id = random_order_ids(rng, n_orders)
    customer = _sample(rng, prep.customer_cdf, n_orders)
    channel = _choice(rng, tuple(c.code for c in CHANNELS), np.array([c.weight for c in CHANNELS]), n_orders)
    payment = _choice(rng, PAYMENT_METHODS, np.array(PAYMENT_WEIGHTS), n_orders)

    # Lines: repeat order attributes, number lines 1..k within each order.
    n = int(lines_per_order.sum())
    owner = np.repeat(np.arange(n_orders), lines_per_order)
    first_line = np.cumsum(lines_per_order) - lines_per_order
    line_no = (np.arange(n) - np.repeat(first_line, lines_per_order) + 1).astype(np.int32)
    book = _sample(rng, prep.book_cdf, n)
    quantity = (_sample(rng, np.cumsum(QUANTITY_P), n) + 1).astype(np.int32)
    discounted = rng.random(n) < DISCOUNT_SHARE
    discount = np.where(discounted, DISCOUNT_STEPS_BP[rng.integers(0, len(DISCOUNT_STEPS_BP), n)], 0).astype(
        np.int32
    )
    sales = {
        "event_id": random_uuids(rng, n),
        "event_type": np.full(n, SALE.encode(), dtype="S6"),
        "event_time": order_times_ms[owner],
        "order_id": order_id[owner],
        "line_no": line_no,
        "customer_id": prep.customer_id[customer][owner],
        "product_id": prep.book_id[book],
        "quantity": quantity,
        "unit_price_cents": prep.list_price[book],
        "discount_bp": discount,
        "currency": np.full(n, CURRENCY.encode(), dtype=f"S{len(CURRENCY)}"),
        "channel": channel[owner],
        "region": prep.customer_region[customer][owner],
        "payment_method": payment[owner],
    }

    # Refunds: a copy of some lines, later, with their own event id.
    refunded = np.flatnonzero(rng.random(n) < refund_rate)
    k = len(refunded)
    refunds = {name: col[refunded] for name, col in sales.items()}
    delay = REFUND_MIN_DELAY_MS + rng.exponential(REFUND_MEAN_DELAY_MS, k).astype(np.int64)
    refunds["event_time"] = refunds["event_time"] + np.minimum(delay, REFUND_MAX_DELAY_MS)
    refunds["event_id"] = random_uuids(rng, k)
    refunds["event_type"] = np.full(k, REFUND.encode(), dtype="S6")

    sales["revenue_cents"] = revenue_cents_np(
        sales["quantity"], sales["unit_price_cents"], sales["discount_bp"], np.zeros(n, bool)
    )
    refunds["revenue_cents"] = -sales["revenue_cents"][refunded]
    return merge_by_time(sales, refunds)


def merge_by_time(first: dict[str, np.ndarray], second: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Merge two column sets into ``event_time`` order; ties keep ``first`` first.

    ``first`` (the sale lines) is usually sorted already; ``second`` (the few
    refunds) is sorted here and slotted in, which is one write per column
    instead of a concatenation plus a full argsort.
    """
    times = first["event_time"]
    if len(times) > 1 and not (times[1:] >= times[:-1]).all():
        order = np.argsort(times, kind="stable")
        first = {name: col[order] for name, col in first.items()}
    order = np.argsort(second["event_time"], kind="stable")
    second = {name: col[order] for name, col in second.items()}
    n, k = len(first["event_time"]), len(second["event_time"])
    slots = np.searchsorted(first["event_time"], second["event_time"], side="right") + np.arange(k)
    is_second = np.zeros(n + k, dtype=bool)
    is_second[slots] = True
    merged = {}
    for name in LINE_COLUMNS:
        a, b = first[name], second[name]
        out = np.empty(n + k, dtype=np.promote_types(a.dtype, b.dtype))
        out[~is_second] = a
        out[is_second] = b
        merged[name] = out
    return merged


def orders_to_lines(
    rng: np.random.Generator,
    catalogue: Catalogue,
    order_times_ms: np.ndarray,
    refund_rate: float = 0.02,
) -> dict[str, np.ndarray]:
    """Lines (1-5 per order) of orders placed at ``order_times_ms``, plus about ``refund_rate`` refunds.

    Returns one array per column of the raw schema except ``event_date``,
    ``source``, ``origin`` and ``ingested_at``; text columns are ``str`` arrays.
    Rows are sorted by event time; refunds may fall after the window of the
    orders (callers filter if they need to).
    """
    lines_per_order = draw_lines_per_order(rng, len(order_times_ms))
    lines = build_lines(rng, catalogue, order_times_ms, lines_per_order, refund_rate)
    return {name: col.astype("U") if name in TEXT_COLUMNS else col for name, col in lines.items()}


# -- Arrow --------------------------------------------------------------------


def text_to_arrow(values: np.ndarray) -> pa.Array:
    """A NumPy text array (``S`` ASCII/UTF-8 or ``U``) -> Arrow string, built from buffers.

    ``pa.array`` on NumPy text converts element by element; here fixed-width
    rows are stripped of their NUL padding with a mask and the offsets come
    from a cumulative sum, so a million ids cost milliseconds.
    """
    if values.dtype.kind == "U":
        try:
            values = values.astype("S")
        except UnicodeEncodeError:
            return pa.array(values, pa.string())
    if values.dtype.kind == "O":
        return pa.array(values, pa.string())
    n, width = len(values), values.dtype.itemsize
    if n == 0 or width == 0:
        return pa.array([""] * n, pa.string())
    chars = np.ascontiguousarray(values).view(np.uint8).reshape(n, width)
    if chars[:, -1].all():  # every value fills the width: no padding to strip
        data, offsets = chars.reshape(-1), np.arange(0, n * width + 1, width, dtype=np.int64)
    else:
        keep = chars != 0
        data = chars[keep]
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(keep.sum(axis=1), out=offsets[1:])
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data)).cast(pa.string())


def lines_to_table(
    lines: dict[str, np.ndarray], source: str, origin_prefix: str, ingested_at_ms: int
) -> pa.Table:
    """Simulated lines -> a raw-zone table (:data:`~salespulse.lake.RAW_SALES_SCHEMA`).

    ``origin`` is ``<origin_prefix>/<row index>`` so every row can be traced to
    the batch (e.g. ``generator/<seed>/<chunk>``) and its position in it.
    """
    times = np.asarray(lines["event_time"], dtype=np.int64)
    n = len(times)
    columns: dict[str, pa.Array] = {}
    for field in RAW_SALES_SCHEMA:
        name = field.name
        if name == "event_time":
            columns[name] = pa.array(times, field.type)
        elif name == "event_date":
            columns[name] = pa.array((times // DAY_MS).astype(np.int32), pa.date32())
        elif name == "source":
            columns[name] = pa.DictionaryArray.from_arrays(np.zeros(n, np.int32), pa.array([source])).cast(
                pa.string()
            )
        elif name == "origin":
            columns[name] = pc.binary_join_element_wise(
                origin_prefix, pc.cast(pa.array(np.arange(n, dtype=np.int64)), pa.string()), "/"
            )
        elif name == "ingested_at":
            columns[name] = pa.array(np.full(n, ingested_at_ms, np.int64), field.type)
        elif name in TEXT_COLUMNS:
            columns[name] = text_to_arrow(np.asarray(lines[name]))
        else:
            columns[name] = pa.array(np.asarray(lines[name]), field.type)
    return pa.table(columns, schema=RAW_SALES_SCHEMA)
