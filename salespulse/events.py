"""The ``sale.v1`` contract: model, validation with reasons, encode/decode.

This is the only module that turns sale events into bytes or bytes into sale
events.  Inside SalesPulse money is integer cents and discounts integer basis
points; on the wire ``unit_price`` is a decimal string with at most two places
(``"12.99"``) and ``discount`` a number or string in 0..1 with at most four.

Validation never stops at the first problem: a rejected event carries every
reason, so the dead-letter topic tells an operator all that is wrong at once.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson

from salespulse.metrics import EVENT_TYPES, REFUND, counts_as_order, revenue_cents, signed_units

SCHEMA = "sale.v1"
#: Larger payloads are rejected before parsing: no sale line is this big.
MAX_EVENT_BYTES = 16 * 1024
MAX_ID_LENGTH = 64
MAX_QUANTITY = 100_000
MAX_UNIT_PRICE_CENTS = 10_000_000_00  # ten million
FIELDS = (
    "schema",
    "event_id",
    "event_type",
    "event_time",
    "order_id",
    "line_no",
    "customer_id",
    "product_id",
    "quantity",
    "unit_price",
    "discount",
    "currency",
    "channel",
    "region",
    "payment_method",
)
_PRICE_RE = re.compile(r"^(\d{1,12})(?:\.(\d{1,2}))?$")
_DISCOUNT_RE = re.compile(r"^(0|1)(?:\.(\d{1,4}))?$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
#: Canonical lower-case UUID text: accepted as is (the hot path); anything else is normalised.
_CANONICAL_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class InvalidEvent(ValueError):
    """A payload that is not a valid ``sale.v1`` event; ``reasons`` lists every problem."""

    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass(frozen=True, slots=True)
class SaleEvent:
    """One sale or refund line.  ``event_time_ms`` is UTC epoch milliseconds."""

    event_id: str
    event_type: str
    event_time_ms: int
    order_id: str
    line_no: int
    customer_id: str
    product_id: str
    quantity: int
    unit_price_cents: int
    discount_bp: int
    currency: str
    channel: str
    region: str
    payment_method: str

    @property
    def revenue_cents(self) -> int:
        return revenue_cents(self.quantity, self.unit_price_cents, self.discount_bp, self.event_type)

    @property
    def units(self) -> int:
        return signed_units(self.quantity, self.event_type)

    @property
    def is_refund(self) -> bool:
        return self.event_type == REFUND

    @property
    def counts_as_order(self) -> bool:
        return counts_as_order(self.line_no, self.event_type)

    @property
    def event_time(self) -> datetime:
        return datetime.fromtimestamp(self.event_time_ms / 1000, tz=UTC)

    @property
    def event_date(self) -> date:
        return self.event_time.date()

    def to_payload(self) -> dict[str, Any]:
        """The JSON-ready ``sale.v1`` mapping of this event."""
        return {
            "schema": SCHEMA,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "event_time": format_event_time(self.event_time_ms),
            "order_id": self.order_id,
            "line_no": self.line_no,
            "customer_id": self.customer_id,
            "product_id": self.product_id,
            "quantity": self.quantity,
            "unit_price": format_cents(self.unit_price_cents),
            "discount": format_discount(self.discount_bp),
            "currency": self.currency,
            "channel": self.channel,
            "region": self.region,
            "payment_method": self.payment_method,
        }


# -- formatting -------------------------------------------------------------


def format_event_time(ms: int) -> str:
    """``2026-11-25T15:35:45.123Z``: ISO-8601, UTC, milliseconds."""
    seconds, millis = divmod(ms, 1000)
    dt = datetime.fromtimestamp(seconds, tz=UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{millis:03d}Z"


def to_epoch_ms(dt: datetime) -> int:
    """Timezone-aware datetime -> UTC epoch milliseconds (exact, no float)."""
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def format_cents(cents: int) -> str:
    whole, frac = divmod(cents, 100)
    return f"{whole}.{frac:02d}"


def format_discount(bp: int) -> float:
    return bp / 10_000


# -- field parsers: each returns (value, reason) ------------------------------


def _decimal_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return value.strip()
    return None


def parse_price_cents(value: Any) -> tuple[int | None, str | None]:
    text = _decimal_text(value)
    if text is None:
        return None, f"unit_price: must be a decimal number or string, got {type(value).__name__}"
    if text.startswith("-"):
        return None, f"unit_price: must be >= 0, got {text}"
    m = _PRICE_RE.match(text)
    if not m:
        return None, f"unit_price: must be a decimal with at most 2 places, got {text!r}"
    cents = int(m.group(1)) * 100 + int((m.group(2) or "0").ljust(2, "0"))
    if cents > MAX_UNIT_PRICE_CENTS:
        return None, f"unit_price: implausibly large ({text})"
    return cents, None


def parse_discount_bp(value: Any) -> tuple[int | None, str | None]:
    text = _decimal_text(value)
    if text is None:
        return None, f"discount: must be a number in 0..1, got {type(value).__name__}"
    m = _DISCOUNT_RE.match(text)
    if not m:
        return None, f"discount: must be a number in 0..1 with at most 4 places, got {text!r}"
    bp = int(m.group(1)) * 10_000 + int((m.group(2) or "0").ljust(4, "0"))
    if bp > 10_000:
        return None, f"discount: must be <= 1, got {text}"
    return bp, None


def parse_event_time_ms(value: Any) -> tuple[int | None, str | None]:
    if not isinstance(value, str):
        return None, f"event_time: must be an ISO-8601 string, got {type(value).__name__}"
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None, f"event_time: not an ISO-8601 date-time: {value[:40]!r}"
    if dt.tzinfo is None or dt.utcoffset() is None:
        return None, f"event_time: must carry a UTC offset (e.g. 'Z'), got {value[:40]!r}"
    return to_epoch_ms(dt), None


def _text(payload: Mapping[str, Any], name: str, reasons: list[str]) -> str:
    value = payload.get(name)
    if value is None:
        reasons.append(f"{name}: missing")
        return ""
    if not isinstance(value, str):
        reasons.append(f"{name}: must be a string, got {type(value).__name__}")
        return ""
    value = value.strip()
    if not value:
        reasons.append(f"{name}: empty")
    elif len(value) > MAX_ID_LENGTH:
        reasons.append(f"{name}: longer than {MAX_ID_LENGTH} characters")
    return value


def _int(payload: Mapping[str, Any], name: str, reasons: list[str], low: int, high: int) -> int:
    value = payload.get(name)
    if value is None:
        reasons.append(f"{name}: missing")
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        reasons.append(f"{name}: must be an integer, got {type(value).__name__} {value!r}"[:120])
        return 0
    if not low <= value <= high:
        reasons.append(f"{name}: must be in {low}..{high}, got {value}")
    return value


def _check(payload: Mapping[str, Any], name: str, reasons: list[str], parser: Any) -> int:
    if name not in payload or payload[name] is None:
        reasons.append(f"{name}: missing")
        return 0
    value, reason = parser(payload[name])
    if reason:
        reasons.append(reason)
        return 0
    return int(value)


def _parse(payload: Any) -> tuple[SaleEvent | None, list[str]]:
    if not isinstance(payload, Mapping):
        return None, [f"payload: must be a JSON object, got {type(payload).__name__}"]
    reasons: list[str] = []
    schema = payload.get("schema")
    if schema != SCHEMA:
        reasons.append(f"schema: unknown schema {schema!r}, expected {SCHEMA!r}")
    event_id = _text(payload, "event_id", reasons)
    if event_id and not _CANONICAL_UUID_RE.match(event_id):
        try:
            event_id = str(uuid.UUID(event_id))
        except ValueError:
            reasons.append(f"event_id: not a UUID: {event_id[:40]!r}")
    event_type = payload.get("event_type")
    if event_type not in EVENT_TYPES:
        reasons.append(f"event_type: must be one of {list(EVENT_TYPES)}, got {event_type!r}"[:120])
    event_time_ms = _check(payload, "event_time", reasons, parse_event_time_ms)
    order_id = _text(payload, "order_id", reasons)
    line_no = _int(payload, "line_no", reasons, 1, 10_000)
    customer_id = _text(payload, "customer_id", reasons)
    product_id = _text(payload, "product_id", reasons)
    quantity = _int(payload, "quantity", reasons, 1, MAX_QUANTITY)
    unit_price_cents = _check(payload, "unit_price", reasons, parse_price_cents)
    discount_bp = _check(payload, "discount", reasons, parse_discount_bp)
    currency = _text(payload, "currency", reasons)
    if currency and not _CURRENCY_RE.match(currency):
        reasons.append(f"currency: must be a 3-letter ISO 4217 code, got {currency[:12]!r}")
    channel = _text(payload, "channel", reasons)
    region = _text(payload, "region", reasons)
    payment_method = _text(payload, "payment_method", reasons)
    if reasons:
        return None, reasons
    return (
        SaleEvent(
            event_id=event_id,
            event_type=str(event_type),
            event_time_ms=event_time_ms,
            order_id=order_id,
            line_no=line_no,
            customer_id=customer_id,
            product_id=product_id,
            quantity=quantity,
            unit_price_cents=unit_price_cents,
            discount_bp=discount_bp,
            currency=currency,
            channel=channel,
            region=region,
            payment_method=payment_method,
        ),
        [],
    )


# -- public API ---------------------------------------------------------------


def validate(payload: Any) -> list[str]:
    """Every reason ``payload`` is not a valid ``sale.v1`` event; empty when it is."""
    return _parse(payload)[1]


def from_payload(payload: Any) -> SaleEvent:
    """A validated event from a decoded JSON mapping; raises :class:`InvalidEvent`."""
    event, reasons = _parse(payload)
    if event is None:
        raise InvalidEvent(reasons)
    return event


def load_payload(
    raw: bytes | bytearray | memoryview | None,
    error: type[InvalidEvent] = InvalidEvent,
    max_bytes: int = MAX_EVENT_BYTES,
) -> Any:
    """Wire bytes -> decoded JSON, refusing empty, oversized and non-JSON messages with a reason.

    Shared by every contract on the wire (``sale.v1``, ``interaction.v1``) so they
    reject bad bytes with the same words.
    """
    if raw is None:
        raise error(["payload: empty message (no value)"])
    if len(raw) > max_bytes:
        raise error([f"payload: oversized ({len(raw)} bytes > {max_bytes})"])
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise error([f"payload: not valid UTF-8 JSON ({exc})"[:200]]) from None


def decode(raw: bytes | bytearray | memoryview | None) -> SaleEvent:
    """Bytes from the wire -> a validated event; raises :class:`InvalidEvent` with reasons."""
    return from_payload(load_payload(raw))


def encode(event: SaleEvent) -> bytes:
    """A validated event -> compact UTF-8 JSON bytes (round-trips exactly through decode)."""
    return orjson.dumps(event.to_payload())


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """Encode a raw mapping without validating it (the producer's malformed-event injector)."""
    return orjson.dumps(dict(payload))
