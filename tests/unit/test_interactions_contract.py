"""The interaction.v1 contract: round trip, every rejection reason, the column encoder's bytes."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from salespulse.interactions import contract
from salespulse.interactions.contract import Interaction, InvalidInteraction, decode, encode, validate
from salespulse.interactions.simulate import COLUMNS, encode_columns

GOOD = Interaction(
    interaction_id="0b7e4c1a-2f7d-4d7e-9a51-5b8f3c2d1e00",
    kind="checkout_started",
    event_time_ms=1_767_225_600_123,
    session_id="s-1",
    customer_id=None,
    product_id="BK0000001",
    channel="web",
    region="uk",
    order_id="ORD-1",
)


def test_round_trip_and_wire_form() -> None:
    raw = encode(GOOD)
    payload = orjson.loads(raw)
    assert payload["schema"] == "interaction.v1"
    assert payload["event_time"] == "2026-01-01T00:00:00.123Z"
    assert payload["customer_id"] is None
    assert decode(raw) == GOOD
    assert validate(payload) == []


def test_every_reason_is_reported() -> None:
    bad = {
        "schema": "interaction.v0",
        "interaction_id": "not-a-uuid",
        "kind": "purchase",
        "event_time": "2026-01-01T00:00:00",
        "session_id": "",
        "customer_id": 7,
        "channel": "web",
        "region": "x" * 65,
    }
    reasons = validate(bad)
    assert reasons == [
        "schema: unknown schema 'interaction.v0', expected 'interaction.v1'",
        "interaction_id: not a UUID: 'not-a-uuid'",
        "kind: must be one of ['product_view', 'add_to_cart', 'remove_from_cart', 'checkout_started'], "
        "got 'purchase'",
        "event_time: must carry a UTC offset (e.g. 'Z'), got '2026-01-01T00:00:00'",
        "session_id: empty",
        "customer_id: must be a string, got int",
        "product_id: missing",
        "region: longer than 64 characters",
    ]


def test_order_id_only_on_checkout() -> None:
    payload = {**GOOD.to_payload(), "kind": "product_view"}
    assert validate(payload) == ["order_id: only a checkout_started carries an order id, not a product_view"]
    assert validate({**payload, "order_id": None}) == []


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "payload: empty message (no value)"),
        (b"[1]", "payload: must be a JSON object, got list"),
        (
            b"x" * (contract.MAX_EVENT_BYTES + 1),
            f"payload: oversized ({contract.MAX_EVENT_BYTES + 1} bytes > 8192)",
        ),
    ],
)
def test_undecodable(raw: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidInteraction) as info:
        decode(raw)
    assert info.value.reasons == [reason]


def test_bad_json_is_a_reason() -> None:
    with pytest.raises(InvalidInteraction) as info:
        decode(b"{nope")
    assert info.value.reasons[0].startswith("payload: not valid UTF-8 JSON")


def test_column_encoder_writes_the_contract_bytes() -> None:
    other = Interaction("1b7e4c1a-2f7d-4d7e-9a51-5b8f3c2d1e00", "product_view", 1_767_225_599_999, "s-2",
                        "CU0000001", "BK0000002", "mobile_app", "apac")  # fmt: skip
    items = [GOOD, other]
    columns = {
        "interaction_id": np.array([i.interaction_id for i in items], dtype=object),
        "kind": np.array([i.kind for i in items], dtype=object),
        "event_time": np.array([i.event_time_ms for i in items], dtype=np.int64),
        "session_id": np.array([i.session_id for i in items], dtype=object),
        "customer_id": np.array([i.customer_id for i in items], dtype=object),
        "product_id": np.array([i.product_id for i in items], dtype=object),
        "channel": np.array([i.channel for i in items], dtype=object),
        "region": np.array([i.region for i in items], dtype=object),
        "order_id": np.array([i.order_id for i in items], dtype=object),
    }
    assert set(columns) == set(COLUMNS)
    assert encode_columns(columns) == [encode(i) for i in items]
