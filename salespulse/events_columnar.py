"""The ``sale.v1`` contract, decoded a whole batch at a time into Arrow columns.

:func:`salespulse.events.decode` checks one message in Python (about 11 µs an
event), which caps one consumer process below the speed layer's targets.
Here a batch of messages is parsed by Arrow's C++ JSON reader in one call and
validated with vectorised kernels, into the raw zone's columns directly: no
per-event Python object.

The verdict on every message is, by construction, the one ``events.decode``
gives: this module only *accepts* messages it can prove clean with checks
stricter than the contract (printable ASCII identifiers, the canonical time
format ``YYYY-MM-DDTHH:MM:SS.mmmZ``, the exact types); anything else, and any
message the Arrow reader might read differently from ``orjson`` (NaN,
invalid UTF-8, deep nesting, embedded newlines, duplicate keys), goes to
``events.decode`` one by one, which accepts it or rejects it with every
reason.  The unit tests compare both paths message by message.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from salespulse.events import (
    MAX_EVENT_BYTES,
    MAX_ID_LENGTH,
    MAX_QUANTITY,
    MAX_UNIT_PRICE_CENTS,
    SCHEMA,
    InvalidEvent,
    SaleEvent,
    decode,
)
from salespulse.lake import RAW_SALES_SCHEMA, events_to_table
from salespulse.metrics import EVENT_TYPES, REFUND, revenue_cents_np

#: Longer messages go to the per-message path: a clean sale line is ~360 bytes,
#: and below this no message can nest deeper than ``orjson``'s limit of 1,024.
FAST_MAX_BYTES = min(2048, MAX_EVENT_BYTES)
#: When a batch fails to parse as a whole, it is retried in pieces of this size.
PIECE = 256
#: Below this many messages the per-message decoder is cheaper than the Arrow
#: reader's fixed cost (about 2 ms a call against 12 µs a message).
MIN_COLUMNAR = 128

_WIRE_SCHEMA = pa.schema(
    [
        ("schema", pa.string()),
        ("event_id", pa.string()),
        ("event_type", pa.string()),
        ("event_time", pa.string()),
        ("order_id", pa.string()),
        ("line_no", pa.int64()),
        ("customer_id", pa.string()),
        ("product_id", pa.string()),
        ("quantity", pa.int64()),
        ("unit_price", pa.string()),
        ("discount", pa.float64()),
        ("currency", pa.string()),
        ("channel", pa.string()),
        ("region", pa.string()),
        ("payment_method", pa.string()),
    ]
)
_PARSE = pj.ParseOptions(explicit_schema=_WIRE_SCHEMA, unexpected_field_behavior="ignore")
_READ = pj.ReadOptions(use_threads=False, block_size=1 << 26)

#: The columns a decoded batch has: the raw zone's, less what the writer adds (source, origin, ingested_at).
COLUMNS = pa.schema([f for f in RAW_SALES_SCHEMA if f.name not in ("source", "origin", "ingested_at")])
_ID_FIELDS = ("order_id", "customer_id", "product_id", "channel", "region", "payment_method")
#: Stricter than the contract (which strips whitespace and allows any text):
#: printable ASCII, no space, so stripping would change nothing.
_ID_RE = rf"^[!-~]{{1,{MAX_ID_LENGTH}}}$"
_UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_TIME_RE = (
    r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{3}Z$"
)
_PRICE_RE = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)


@dataclass
class Decoded:
    """The verdict on a batch: good rows (in input order) and a reason for every rejected message."""

    table: pa.Table  # schema COLUMNS
    positions: np.ndarray  # input index of each row of ``table``
    rejects: dict[int, str]  # input index -> every reason, joined as by InvalidEvent


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def _int_slice(strings: pa.Array, start: int, stop: int) -> np.ndarray:
    part = pc.utf8_slice_codeunits(strings, start, stop)
    return pc.cast(part, pa.int64()).to_numpy(zero_copy_only=False)


def _event_time_ms(times: pa.Array, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """UTC epoch ms of canonical times, and a mask narrowed to real calendar dates."""
    safe = pc.if_else(pa.array(ok), times, "1970-01-01T00:00:00.000Z")
    year, month, day = _int_slice(safe, 0, 4), _int_slice(safe, 5, 7), _int_slice(safe, 8, 10)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    ok = ok & (day <= _DAYS_IN_MONTH[month] + ((month == 2) & leap))
    seconds = _int_slice(safe, 11, 13) * 3600 + _int_slice(safe, 14, 16) * 60 + _int_slice(safe, 17, 19)
    days = _days_from_civil(year, month, day)
    return (days * 86_400 + seconds) * 1000 + _int_slice(safe, 20, 23), ok


def _matches(column: pa.ChunkedArray | pa.Array, pattern: str) -> np.ndarray:
    return pc.fill_null(pc.match_substring_regex(column, pattern), False).to_numpy(zero_copy_only=False)


def _not_null(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return pc.is_valid(column).to_numpy(zero_copy_only=False)


def _validate(wire: pa.Table) -> tuple[pa.Table, np.ndarray]:
    """Columns of every row, and the mask of rows proven clean (the rest are re-checked one by one)."""
    wire = wire.combine_chunks()
    col = wire.column
    ok = _matches(col("schema"), f"^{SCHEMA.replace('.', '[.]')}$")
    ok &= _matches(col("event_id"), _UUID_RE)
    ok &= pc.fill_null(pc.is_in(col("event_type"), pa.array(list(EVENT_TYPES))), False).to_numpy(
        zero_copy_only=False
    )
    for name in _ID_FIELDS:
        ok &= _matches(col(name), _ID_RE)
    ok &= _matches(col("currency"), r"^[A-Z]{3}$")
    ok &= _matches(col("unit_price"), _PRICE_RE)
    ok &= _not_null(col("line_no")) & _not_null(col("quantity")) & _not_null(col("discount"))
    line_no = col("line_no").to_numpy(zero_copy_only=False)
    quantity = col("quantity").to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        line_no = np.nan_to_num(line_no.astype(np.float64)).astype(np.int64)
        quantity = np.nan_to_num(quantity.astype(np.float64)).astype(np.int64)
    ok &= (line_no >= 1) & (line_no <= 10_000) & (quantity >= 1) & (quantity <= MAX_QUANTITY)

    discount = pc.fill_null(col("discount"), -1.0).to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore", over="ignore"):
        bp = np.rint(discount * 10_000)
        ok &= np.isfinite(discount) & ~np.signbit(discount) & (bp <= 10_000) & (bp / 10_000 == discount)
    bp = np.where(ok, bp, 0).astype(np.int64)

    price_text = pc.if_else(pa.array(ok), col("unit_price"), "0")
    with np.errstate(invalid="ignore"):
        cents = np.rint(pc.cast(price_text, pa.float64()).to_numpy(zero_copy_only=False) * 100)
    ok &= cents <= MAX_UNIT_PRICE_CENTS
    cents = np.where(ok, cents, 0).astype(np.int64)

    ok &= _matches(col("event_time"), _TIME_RE)
    times_ms, ok = _event_time_ms(col("event_time"), ok)

    refund = pc.equal(col("event_type"), REFUND).to_numpy(zero_copy_only=False)
    table = pa.table(
        {
            "event_id": col("event_id"),
            "event_type": col("event_type"),
            "event_time": pa.array(times_ms, pa.timestamp("ms", tz="UTC")),
            "event_date": pa.array((times_ms // 86_400_000).astype(np.int32), pa.date32()),
            "order_id": col("order_id"),
            "line_no": pa.array(line_no.astype(np.int32)),
            "customer_id": col("customer_id"),
            "product_id": col("product_id"),
            "quantity": pa.array(quantity.astype(np.int32)),
            "unit_price_cents": pa.array(cents),
            "discount_bp": pa.array(bp.astype(np.int32)),
            "revenue_cents": pa.array(revenue_cents_np(quantity, cents, bp, refund)),
            "currency": col("currency"),
            "channel": col("channel"),
            "region": col("region"),
            "payment_method": col("payment_method"),
        }
    )
    return table, ok


def _read(values: Sequence[bytes], buffer: bytes | None = None) -> pa.Table | None:
    """Arrow's reading of newline-joined messages, or None when it cannot match them one to one."""
    if buffer is None:
        buffer = b"\n".join(values)
    try:
        buffer.decode("utf-8")  # orjson refuses invalid UTF-8 anywhere; Arrow only in the fields it keeps
        if b"NaN" in buffer or b"Infinity" in buffer:  # Arrow reads these, orjson refuses them
            return None
        wire = pj.read_json(io.BytesIO(buffer), read_options=_READ, parse_options=_PARSE)
    except (pa.ArrowException, ValueError):
        return None
    return wire if wire.num_rows == len(values) else None


def _all_candidates(values: Sequence[bytes | None]) -> bytes | None:
    """The joined buffer when every message qualifies for the fast path (the usual batch), else None.

    A message with a line break inside would split into two rows; one
    line holding two objects is caught by the row count in :func:`_read`.
    """
    try:
        lengths = list(map(len, values))  # type: ignore[arg-type]
    except TypeError:  # a message without a value
        return None
    if not lengths or max(lengths) > FAST_MAX_BYTES or min(lengths) < 2:
        return None
    buffer = b"\n".join(values)  # type: ignore[arg-type]
    if buffer.count(b"\n") != len(values) - 1 or b"\r" in buffer:
        return None
    return buffer


def _fast_candidate(value: bytes | None) -> bool:
    """One message's eligibility, when the batch as a whole is not (see :func:`_all_candidates`)."""
    return (
        value is not None
        and 2 <= len(value) <= FAST_MAX_BYTES
        and value[0] == 0x7B  # {
        and value[-1] == 0x7D  # }
        and b"\n" not in value
        and b"\r" not in value
    )


def _slow_table(events: list[SaleEvent]) -> pa.Table:
    return events_to_table(events, "", [""] * len(events), 0).select(COLUMNS.names)


def decode_many(values: Sequence[bytes | None]) -> Decoded:
    """Decode and validate a batch of wire messages: the verdict of ``events.decode`` on each."""
    buffer = _all_candidates(values) if len(values) >= MIN_COLUMNAR else None
    if len(values) < MIN_COLUMNAR:
        candidates = []
    elif buffer is not None:
        candidates = list(range(len(values)))
    else:
        candidates = [i for i, v in enumerate(values) if _fast_candidate(v)]
    tables: list[pa.Table] = []
    positions: list[np.ndarray] = []
    slow = np.ones(len(values), bool)
    pieces = [candidates] if candidates else []
    while pieces:
        piece = pieces.pop()
        if buffer is not None:
            wire = _read(values, buffer)  # type: ignore[arg-type]
            buffer = None
        else:
            wire = _read([values[i] for i in piece])  # type: ignore[misc]
        if wire is None:
            if len(piece) > PIECE:
                pieces.extend(piece[k : k + PIECE] for k in range(0, len(piece), PIECE))
            continue  # small pieces that still fail are left to the per-message path
        table, ok = _validate(wire)
        index = np.asarray(piece, np.int64)
        if ok.all():
            tables.append(table)
            positions.append(index)
        elif ok.any():
            tables.append(table.filter(pa.array(ok)))
            positions.append(index[ok])
        slow[index[ok]] = False

    rejects: dict[int, str] = {}
    accepted: list[SaleEvent] = []
    accepted_at: list[int] = []
    for i in np.flatnonzero(slow).tolist():
        try:
            accepted.append(decode(values[i]))
            accepted_at.append(i)
        except InvalidEvent as exc:
            rejects[i] = str(exc)
    if accepted:
        tables.append(_slow_table(accepted))
        positions.append(np.asarray(accepted_at, np.int64))

    if not tables:
        return Decoded(COLUMNS.empty_table(), np.zeros(0, np.int64), rejects)
    table = pa.concat_tables([t.cast(COLUMNS) for t in tables])
    where = np.concatenate(positions)
    if len(tables) > 1:  # back to input order
        order = np.argsort(where, kind="stable")
        table, where = table.take(pa.array(order)), where[order]
    return Decoded(table, where, rejects)
