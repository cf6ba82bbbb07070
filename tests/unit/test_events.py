"""The sale.v1 contract: every rejection reason, exact round trips, cents arithmetic."""

from __future__ import annotations

import orjson
import pytest

from salespulse import events
from salespulse.events import InvalidEvent, SaleEvent, decode, encode, from_payload, validate


def good_payload(**changes: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "schema": "sale.v1",
        "event_id": "0b8f6d1e-6f1d-4d52-9c1e-7a4f5e2b9c01",
        "event_type": "sale",
        "event_time": "2026-11-25T15:35:45.123Z",
        "order_id": "ORD-1",
        "line_no": 1,
        "customer_id": "CU0000001",
        "product_id": "BK0000042",
        "quantity": 3,
        "unit_price": "12.99",
        "discount": 0.1,
        "currency": "USD",
        "channel": "web",
        "region": "uk",
        "payment_method": "card",
    }
    payload.update(changes)
    return payload


def test_valid_payload_parses_to_exact_values() -> None:
    event = from_payload(good_payload())
    assert event == SaleEvent(
        event_id="0b8f6d1e-6f1d-4d52-9c1e-7a4f5e2b9c01",
        event_type="sale",
        event_time_ms=1795620945123,
        order_id="ORD-1",
        line_no=1,
        customer_id="CU0000001",
        product_id="BK0000042",
        quantity=3,
        unit_price_cents=1299,
        discount_bp=1000,
        currency="USD",
        channel="web",
        region="uk",
        payment_method="card",
    )
    assert event.event_time_ms == 1795620945123
    # 3 x 12.99 x 0.9 = 35.073 -> 35.07
    assert event.revenue_cents == 3507
    assert event.units == 3
    assert event.counts_as_order is True
    assert str(event.event_date) == "2026-11-25"


def test_refund_is_negative_and_not_an_order() -> None:
    event = from_payload(good_payload(event_type="refund"))
    assert event.revenue_cents == -3507
    assert event.units == -3
    assert event.counts_as_order is False


def test_round_trip_is_exact() -> None:
    event = from_payload(good_payload(unit_price="0.05", discount="0.3333", quantity=7))
    raw = encode(event)
    assert decode(raw) == event
    assert orjson.loads(raw)["unit_price"] == "0.05"
    assert orjson.loads(raw)["discount"] == 0.3333
    assert orjson.loads(raw)["event_time"] == "2026-11-25T15:35:45.123Z"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"schema": "sale.v2"}, "schema: unknown schema 'sale.v2', expected 'sale.v1'"),
        ({"event_id": "not-a-uuid"}, "event_id: not a UUID: 'not-a-uuid'"),
        ({"event_type": "return"}, "event_type: must be one of ['sale', 'refund'], got 'return'"),
        ({"event_time": "yesterday"}, "event_time: not an ISO-8601 date-time: 'yesterday'"),
        (
            {"event_time": "2026-11-25T15:35:45"},
            "event_time: must carry a UTC offset (e.g. 'Z'), got '2026-11-25T15:35:45'",
        ),
        ({"event_time": 12345}, "event_time: must be an ISO-8601 string, got int"),
        ({"order_id": ""}, "order_id: empty"),
        ({"order_id": "x" * 65}, "order_id: longer than 64 characters"),
        ({"line_no": 0}, "line_no: must be in 1..10000, got 0"),
        ({"line_no": "1"}, "line_no: must be an integer, got str '1'"),
        ({"customer_id": 17}, "customer_id: must be a string, got int"),
        ({"quantity": -2}, "quantity: must be in 1..100000, got -2"),
        ({"quantity": 1.5}, "quantity: must be an integer, got float 1.5"),
        ({"quantity": True}, "quantity: must be an integer, got bool True"),
        ({"unit_price": "-1.00"}, "unit_price: must be >= 0, got -1.00"),
        ({"unit_price": "12.999"}, "unit_price: must be a decimal with at most 2 places, got '12.999'"),
        ({"unit_price": "abc"}, "unit_price: must be a decimal with at most 2 places, got 'abc'"),
        ({"unit_price": [1]}, "unit_price: must be a decimal number or string, got list"),
        ({"discount": 1.5}, "discount: must be <= 1, got 1.5"),
        ({"discount": "0.12345"}, "discount: must be a number in 0..1 with at most 4 places, got '0.12345'"),
        ({"currency": "usd"}, "currency: must be a 3-letter ISO 4217 code, got 'usd'"),
        ({"channel": None}, "channel: missing"),
        ({"region": "  "}, "region: empty"),
        ({"payment_method": {}}, "payment_method: must be a string, got dict"),
    ],
)
def test_each_rejection_has_its_reason(changes: dict[str, object], reason: str) -> None:
    assert validate(good_payload(**changes)) == [reason]


def test_every_reason_is_reported_at_once() -> None:
    payload = good_payload(quantity=0, unit_price="x", currency="EURO")
    del payload["region"]
    assert validate(payload) == [
        "quantity: must be in 1..100000, got 0",
        "unit_price: must be a decimal with at most 2 places, got 'x'",
        "currency: must be a 3-letter ISO 4217 code, got 'EURO'",
        "region: missing",
    ]


def test_decode_rejects_bad_bytes_with_reasons() -> None:
    with pytest.raises(InvalidEvent) as bad_json:
        decode(b"{not json")
    assert bad_json.value.reasons[0].startswith("payload: not valid UTF-8 JSON")
    with pytest.raises(InvalidEvent) as big:
        decode(b" " * (events.MAX_EVENT_BYTES + 1))
    assert big.value.reasons == [f"payload: oversized ({events.MAX_EVENT_BYTES + 1} bytes > 16384)"]
    with pytest.raises(InvalidEvent) as array:
        decode(b"[1, 2]")
    assert array.value.reasons == ["payload: must be a JSON object, got list"]
    with pytest.raises(InvalidEvent) as empty:
        decode(None)
    assert empty.value.reasons == ["payload: empty message (no value)"]


def test_numeric_prices_are_exact() -> None:
    assert from_payload(good_payload(unit_price=19.99)).unit_price_cents == 1999
    assert from_payload(good_payload(unit_price=20)).unit_price_cents == 2000
    assert from_payload(good_payload(unit_price="0.5")).unit_price_cents == 50
    assert from_payload(good_payload(discount=0)).discount_bp == 0
    assert from_payload(good_payload(discount=1)).discount_bp == 10000


def test_offsets_are_normalised_to_utc() -> None:
    event = from_payload(good_payload(event_time="2026-11-25T16:35:45.123+01:00"))
    assert events.format_event_time(event.event_time_ms) == "2026-11-25T15:35:45.123Z"


def test_event_ids_are_normalised_to_canonical_lower_case() -> None:
    upper = "0B8F6D1E-6F1D-4D52-9C1E-7A4F5E2B9C01"
    braced = "{0b8f6d1e-6f1d-4d52-9c1e-7a4f5e2b9c01}"
    assert from_payload(good_payload(event_id=upper)).event_id == "0b8f6d1e-6f1d-4d52-9c1e-7a4f5e2b9c01"
    assert from_payload(good_payload(event_id=braced)).event_id == "0b8f6d1e-6f1d-4d52-9c1e-7a4f5e2b9c01"
