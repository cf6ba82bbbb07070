"""The ``interaction.v1`` contract: model, validation with reasons, encode/decode.

Like :mod:`salespulse.events` for sales, this is the only module that turns
interactions into bytes or bytes into interactions, and it reuses that
module's time format so both topics write ``event_time`` the same way
(ISO-8601, UTC, milliseconds).  Validation collects every reason, so a
rejected message tells an operator all that is wrong with it at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson

from salespulse.events import InvalidEvent, format_event_time, load_payload, parse_event_time_ms

SCHEMA = "interaction.v1"
PRODUCT_VIEW = "product_view"
ADD_TO_CART = "add_to_cart"
REMOVE_FROM_CART = "remove_from_cart"
CHECKOUT_STARTED = "checkout_started"
#: Funnel order: each kind is a later step than the one before it.
KINDS = (PRODUCT_VIEW, ADD_TO_CART, REMOVE_FROM_CART, CHECKOUT_STARTED)
MAX_EVENT_BYTES = 8 * 1024
MAX_ID_LENGTH = 64
FIELDS = (
    "schema",
    "interaction_id",
    "kind",
    "event_time",
    "session_id",
    "customer_id",
    "product_id",
    "channel",
    "region",
    "order_id",
)


class InvalidInteraction(InvalidEvent):
    """A payload that is not a valid ``interaction.v1`` event; ``reasons`` lists every problem."""


@dataclass(frozen=True, slots=True)
class Interaction:
    """One shopper action.  ``event_time_ms`` is UTC epoch milliseconds.

    ``customer_id`` is ``None`` for an anonymous shopper; ``order_id`` is set
    only on a ``checkout_started`` that led to an order.  ``product_id`` of a
    checkout is the order's first line (the same book the sales views file the
    order under per genre), so checkouts and orders per genre compare.
    """

    interaction_id: str
    kind: str
    event_time_ms: int
    session_id: str
    customer_id: str | None
    product_id: str
    channel: str
    region: str
    order_id: str | None = None

    @property
    def event_time(self) -> datetime:
        return datetime.fromtimestamp(self.event_time_ms / 1000, tz=UTC)

    @property
    def event_date(self) -> date:
        return self.event_time.date()

    def to_payload(self) -> dict[str, Any]:
        """The JSON-ready ``interaction.v1`` mapping (optional fields as ``null``)."""
        return {
            "schema": SCHEMA,
            "interaction_id": self.interaction_id,
            "kind": self.kind,
            "event_time": format_event_time(self.event_time_ms),
            "session_id": self.session_id,
            "customer_id": self.customer_id,
            "product_id": self.product_id,
            "channel": self.channel,
            "region": self.region,
            "order_id": self.order_id,
        }


def _text(payload: Mapping[str, Any], name: str, reasons: list[str], *, optional: bool = False) -> str | None:
    value = payload.get(name)
    if value is None:
        if not optional:
            reasons.append(f"{name}: missing")
        return None
    if not isinstance(value, str):
        reasons.append(f"{name}: must be a string, got {type(value).__name__}")
        return None
    value = value.strip()
    if not value:
        reasons.append(f"{name}: empty")
    elif len(value) > MAX_ID_LENGTH:
        reasons.append(f"{name}: longer than {MAX_ID_LENGTH} characters")
    return value


def _parse(payload: Any) -> tuple[Interaction | None, list[str]]:
    if not isinstance(payload, Mapping):
        return None, [f"payload: must be a JSON object, got {type(payload).__name__}"]
    reasons: list[str] = []
    schema = payload.get("schema")
    if schema != SCHEMA:
        reasons.append(f"schema: unknown schema {schema!r}, expected {SCHEMA!r}"[:120])
    interaction_id = _text(payload, "interaction_id", reasons)
    if interaction_id:
        try:
            interaction_id = str(uuid.UUID(interaction_id))
        except ValueError:
            reasons.append(f"interaction_id: not a UUID: {interaction_id[:40]!r}")
    kind = payload.get("kind")
    if kind not in KINDS:
        reasons.append(f"kind: must be one of {list(KINDS)}, got {kind!r}"[:160])
    event_time_ms = 0
    if payload.get("event_time") is None:
        reasons.append("event_time: missing")
    else:
        parsed, reason = parse_event_time_ms(payload["event_time"])
        if reason:
            reasons.append(reason)
        else:
            event_time_ms = int(parsed or 0)
    session_id = _text(payload, "session_id", reasons)
    customer_id = _text(payload, "customer_id", reasons, optional=True)
    product_id = _text(payload, "product_id", reasons)
    channel = _text(payload, "channel", reasons)
    region = _text(payload, "region", reasons)
    order_id = _text(payload, "order_id", reasons, optional=True)
    if order_id is not None and kind in KINDS and kind != CHECKOUT_STARTED:
        reasons.append(f"order_id: only a {CHECKOUT_STARTED} carries an order id, not a {kind}")
    if reasons:
        return None, reasons
    return (
        Interaction(
            interaction_id=str(interaction_id),
            kind=str(kind),
            event_time_ms=event_time_ms,
            session_id=str(session_id),
            customer_id=customer_id,
            product_id=str(product_id),
            channel=str(channel),
            region=str(region),
            order_id=order_id,
        ),
        [],
    )


# -- public API ---------------------------------------------------------------


def validate(payload: Any) -> list[str]:
    """Every reason ``payload`` is not a valid ``interaction.v1`` event; empty when it is."""
    return _parse(payload)[1]


def from_payload(payload: Any) -> Interaction:
    """A validated interaction from a decoded JSON mapping; raises :class:`InvalidInteraction`."""
    found, reasons = _parse(payload)
    if found is None:
        raise InvalidInteraction(reasons)
    return found


def decode(raw: bytes | bytearray | memoryview | None) -> Interaction:
    """Bytes from the wire -> a validated interaction; raises :class:`InvalidInteraction`."""
    return from_payload(load_payload(raw, InvalidInteraction, MAX_EVENT_BYTES))


def encode(interaction: Interaction) -> bytes:
    """A validated interaction -> compact UTF-8 JSON (round-trips exactly through :func:`decode`)."""
    return orjson.dumps(interaction.to_payload())
