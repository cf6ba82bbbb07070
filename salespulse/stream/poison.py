"""Malformed messages, one per kind of breakage, for the producer's injector and the tests.

Each is built from a valid event's payload and encoded through
:func:`salespulse.events.encode_payload` (the contract module's raw encoder),
so they differ from a good message in exactly one way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from salespulse.events import MAX_EVENT_BYTES, SaleEvent, encode, encode_payload


def _patched(event: SaleEvent, **changes: Any) -> bytes:
    payload = event.to_payload()
    for name, value in changes.items():
        if value is _DROP:
            payload.pop(name, None)
        else:
            payload[name] = value
    return encode_payload(payload)


_DROP = object()

#: kind -> builder(event) -> bytes; the order is the injector's rotation.
KINDS: dict[str, Callable[[SaleEvent], bytes]] = {
    "bad_json": lambda e: encode(e)[:-7] + b"{oops",
    "missing_field": lambda e: _patched(e, product_id=_DROP, quantity=_DROP),
    "wrong_type": lambda e: _patched(e, quantity="three", line_no=[1]),
    "negative_quantity": lambda e: _patched(e, quantity=-2),
    "unknown_schema": lambda e: _patched(e, schema="sale.v0"),
    "oversized": lambda e: _patched(e, note="x" * (MAX_EVENT_BYTES + 100)),
}

#: A word each reason of that kind contains (what the DLQ tests look for).
EXPECTED_REASON = {
    "bad_json": "not valid UTF-8 JSON",
    "missing_field": "product_id: missing",
    "wrong_type": "quantity: must be an integer",
    "negative_quantity": "quantity: must be in",
    "unknown_schema": "schema: unknown schema",
    "oversized": "oversized",
}


def malformed(kind: str, event: SaleEvent) -> bytes:
    return KINDS[kind](event)
