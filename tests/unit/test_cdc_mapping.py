"""Shop changes -> sale.v1 events: netting, roles, exact values, deterministic ids, headers."""

from __future__ import annotations

import uuid

import pytest

from salespulse import events
from salespulse.cdc import mapping as m
from salespulse.cdc import publisher
from salespulse.cdc.transactions import DELETE, INSERT, TRUNCATE, UPDATE, RowChange, Transaction

LINE = m.ORDERLINE_TABLE


def line(pk: int = 10, qty: int = 2, price: str = "12.99", status: str = "active", **kw: str) -> dict:
    row = {
        "id": str(pk),
        "order_id": "1",
        "line_no": "1",
        "book_id": "7",
        "quantity": str(qty),
        "unit_price": price,
        "discount": "0.0000",
        "status": status,
        "updated_at": "2026-11-25 10:00:00+00",
    }
    row.update(kw)
    return row


def tx(*changes: RowChange, lsn: int = 0x1000) -> Transaction:
    return Transaction(
        xid=5, commit_lsn=lsn, end_lsn=lsn + 0x30, commit_time_us=1_795_000_000_123_456, changes=changes
    )


def roles(*changes: RowChange) -> list[tuple[str, int, int]]:
    return [
        (role, s.quantity, s.unit_price_cents)
        for d in m.net_line_deltas(changes)
        for role, s in m.line_roles(d)
    ]


@pytest.mark.parametrize(
    ("text", "places", "expected"),
    [
        ("12.99", 2, 1299),
        ("5", 2, 500),
        ("0.5", 2, 50),
        ("0.1000", 4, 1000),
        ("1.0000", 4, 10000),
        ("-3.10", 2, -310),
    ],
)
def test_decimal_to_int_is_exact(text: str, places: int, expected: int) -> None:
    assert m.decimal_to_int(text, places) == expected


@pytest.mark.parametrize(("text", "places"), [("1.234", 2), ("abc", 2), ("", 2), ("1.2.3", 2)])
def test_decimal_to_int_rejects(text: str, places: int) -> None:
    with pytest.raises(m.MappingError):
        m.decimal_to_int(text, places)


def test_new_line_is_a_sale() -> None:
    assert roles(RowChange(LINE, INSERT, None, line())) == [("sale", 2, 1299)]


def test_inserted_cancelled_line_is_nothing() -> None:
    assert roles(RowChange(LINE, INSERT, None, line(status="cancelled"))) == []


def test_quantity_change_is_refund_of_old_then_sale_of_new() -> None:
    assert roles(RowChange(LINE, UPDATE, line(qty=2), line(qty=3))) == [
        ("refund", 2, 1299),
        ("sale", 3, 1299),
    ]


def test_price_change_is_a_correction() -> None:
    assert roles(RowChange(LINE, UPDATE, line(), line(price="10.00"))) == [
        ("refund", 2, 1299),
        ("sale", 2, 1000),
    ]


def test_touch_without_economic_change_is_nothing() -> None:
    assert roles(RowChange(LINE, UPDATE, line(), line(updated_at="2026-11-26 00:00:00+00"))) == []


def test_cancel_and_delete_are_refunds_and_reinstating_is_a_sale() -> None:
    assert roles(RowChange(LINE, UPDATE, line(), line(status="cancelled"))) == [("refund", 2, 1299)]
    assert roles(RowChange(LINE, DELETE, line(), None)) == [("refund", 2, 1299)]
    assert roles(RowChange(LINE, DELETE, line(status="cancelled"), None)) == []
    assert roles(RowChange(LINE, UPDATE, line(status="cancelled"), line())) == [("sale", 2, 1299)]


def test_changes_are_netted_per_line_within_a_transaction() -> None:
    # insert, edit twice -> one sale of the final state
    assert roles(
        RowChange(LINE, INSERT, None, line(qty=1)),
        RowChange(LINE, UPDATE, line(qty=1), line(qty=4)),
        RowChange(LINE, UPDATE, line(qty=4), line(qty=5)),
    ) == [("sale", 5, 1299)]
    # insert then delete -> nothing; edit and edit back -> nothing
    assert roles(RowChange(LINE, INSERT, None, line()), RowChange(LINE, DELETE, line(), None)) == []
    assert (
        roles(RowChange(LINE, UPDATE, line(), line(qty=9)), RowChange(LINE, UPDATE, line(qty=9), line()))
        == []
    )
    # two lines keep the order of first touch
    deltas = m.net_line_deltas(
        [RowChange(LINE, INSERT, None, line(pk=2)), RowChange(LINE, INSERT, None, line(pk=1))]
    )
    assert [d.line_pk for d in deltas] == [2, 1]


def test_update_without_old_row_names_the_fix() -> None:
    with pytest.raises(m.MappingError, match="REPLICA IDENTITY FULL"):
        m.net_line_deltas([RowChange(LINE, UPDATE, None, line())])


def test_truncate_and_other_tables_make_no_line_deltas() -> None:
    t = tx(RowChange(LINE, TRUNCATE, None, None), RowChange(m.ORDER_TABLE, INSERT, None, {"id": "1"}))
    assert m.net_line_deltas(t.changes) == []
    assert m.truncated_tables(t) == [LINE]


def directory_from_stream() -> m.Directory:
    d = m.Directory()
    m.absorb(
        d,
        [
            RowChange(m.CUSTOMER_TABLE, INSERT, None, {"id": "3", "code": "CU0000003", "region": "uk"}),
            RowChange(m.BOOK_TABLE, INSERT, None, {"id": "7", "code": "BK0000007"}),
            RowChange(
                m.ORDER_TABLE,
                INSERT,
                None,
                {
                    "id": "1",
                    "number": "ORD-1",
                    "customer_id": "3",
                    "channel": "web",
                    "payment_method": "card",
                    "currency": "USD",
                },
            ),
        ],
    )
    return d


def test_events_carry_exact_values_and_deterministic_ids() -> None:
    t = tx(RowChange(LINE, UPDATE, line(qty=2), line(qty=3, discount="0.1500")))
    d = directory_from_stream()
    evs = m.transaction_events("shopdb", t, m.net_line_deltas(t.changes), d)
    assert [e.to_payload() for e in evs] == [
        {
            "schema": "sale.v1",
            "event_id": str(uuid.uuid5(m.EVENT_NAMESPACE, "shopdb/0/1000/10/refund")),
            "event_type": "refund",
            "event_time": "2026-11-18T11:06:40.123Z",
            "order_id": "ORD-1",
            "line_no": 1,
            "customer_id": "CU0000003",
            "product_id": "BK0000007",
            "quantity": 2,
            "unit_price": "12.99",
            "discount": 0.0,
            "currency": "USD",
            "channel": "web",
            "region": "uk",
            "payment_method": "card",
        },
        {
            "schema": "sale.v1",
            "event_id": str(uuid.uuid5(m.EVENT_NAMESPACE, "shopdb/0/1000/10/sale")),
            "event_type": "sale",
            "event_time": "2026-11-18T11:06:40.123Z",
            "order_id": "ORD-1",
            "line_no": 1,
            "customer_id": "CU0000003",
            "product_id": "BK0000007",
            "quantity": 3,
            "unit_price": "12.99",
            "discount": 0.15,
            "currency": "USD",
            "channel": "web",
            "region": "uk",
            "payment_method": "card",
        },
    ]
    assert all(events.validate(e.to_payload()) == [] for e in evs)
    assert evs[0].revenue_cents == -2598 and evs[1].revenue_cents == 3312
    # A replay of the same commit rebuilds identical events; another commit gets new ids.
    again = m.transaction_events("shopdb", t, m.net_line_deltas(t.changes), directory_from_stream())
    assert again == evs
    other = tx(*t.changes, lsn=0x2000)
    assert {
        e.event_id for e in m.transaction_events("shopdb", other, m.net_line_deltas(t.changes), d)
    }.isdisjoint({e.event_id for e in evs})


def test_missing_lookups_are_reported_then_default_to_unknown() -> None:
    d = m.Directory()
    deltas = m.net_line_deltas([RowChange(LINE, INSERT, None, line())])
    assert m.missing_orders_and_books(d, deltas) == ({1}, {7})
    d.orders[1] = m.OrderInfo("ORD-1", 3, "web", "card", "USD")
    assert m.missing_customers(d, {1}) == {3}
    (event,) = m.transaction_events("db", tx(), deltas, d)
    assert (event.customer_id, event.region, event.product_id) == ("unknown", "unknown", "unknown")
    assert events.validate(event.to_payload()) == []


def test_deleted_order_row_still_describes_its_lines() -> None:
    d = directory_from_stream()
    d.orders.clear()
    m.absorb(d, [RowChange(m.ORDER_TABLE, DELETE, {"id": "1", "number": "ORD-1", "customer_id": "3"}, None)])
    assert d.orders[1].number == "ORD-1"


def test_headers_round_trip_and_foreign_messages_are_ignored() -> None:
    headers = publisher.make_headers("shopdb", 77, 0x1_0000_00AB, 3, 4)
    assert publisher.header_map(headers) == {
        "cdc-lsn": "1/AB",
        "cdc-pos": "3",
        "cdc-count": "4",
        "cdc-xid": "77",
        "cdc-source": "shopdb",
    }
    assert publisher.position_of(headers, "shopdb") == (0x1_0000_00AB, 3)
    assert publisher.position_of(headers, "otherdb") is None
    assert publisher.position_of(None, "shopdb") is None
    assert (
        publisher.position_of([("cdc-source", b"shopdb"), ("cdc-lsn", b"junk"), ("cdc-pos", b"1")], "shopdb")
        is None
    )
