"""CDC against real PostgreSQL logical replication and the real broker: exact events, resume, replay."""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter

import psycopg2
from cdc_shop import Shop, in_commit_order, read_topic, shop_fixture, summary  # noqa: F401 (fixture)

from salespulse.cdc import mapping, source
from salespulse.cdc.pgoutput import format_lsn
from salespulse.cdc.runner import Capture, CaptureOptions

ONCE = CaptureOptions(once=True, batch_ms=50)


def run_once(s: Shop) -> Capture:
    capture = Capture(s.settings, ONCE)
    capture.run()
    return capture


def commit(conn: psycopg2.extensions.connection, *statements: tuple[str, tuple]) -> int:
    """Run statements in one transaction; return its xid (the header the events carry)."""
    with conn.cursor() as cur:
        cur.execute("SELECT txid_current() % 4294967296")
        xid = int(cur.fetchone()[0])
        for sql, params in statements:
            cur.execute(sql, params)
    conn.commit()
    return xid


def new_order(s: Shop, number: str, customer: str, channel: str = "web", payment: str = "card") -> tuple:
    return (
        "INSERT INTO shop_order (number, customer_id, channel, payment_method) VALUES (%s, %s, %s, %s)",
        (number, s.customers[customer], channel, payment),
    )


def new_line(
    s: Shop, number: str, line_no: int, book: str, qty: int, price: str, discount: str = "0"
) -> tuple:
    return (
        "INSERT INTO shop_orderline (order_id, line_no, book_id, quantity, unit_price, discount) "
        "SELECT id, %s, %s, %s, %s, %s FROM shop_order WHERE number = %s",
        (line_no, s.books[book], qty, price, discount, number),
    )


def set_line(number: str, line_no: int, assignment: str, *params: object) -> tuple:
    return (
        f"UPDATE shop_orderline SET {assignment} WHERE line_no = %s "
        "AND order_id = (SELECT id FROM shop_order WHERE number = %s)",
        (*params, line_no, number),
    )


def delete_line(number: str, line_no: int) -> tuple:
    return (
        "DELETE FROM shop_orderline WHERE line_no = %s "
        "AND order_id = (SELECT id FROM shop_order WHERE number = %s)",
        (line_no, number),
    )


def test_changes_become_exactly_the_expected_events_in_commit_order(shop: Shop) -> None:
    s = shop
    first = run_once(s)  # creates publication + slot: capture starts here
    assert first.stats.events_published == 0
    conn = s.connect()
    xids = [
        commit(
            conn,
            new_order(s, "ORD-A", "CU0000001", "web", "card"),
            new_line(s, "ORD-A", 1, "BK0000001", 2, "12.99"),
            new_line(s, "ORD-A", 2, "BK0000002", 1, "5.00", "0.1"),
            new_order(s, "ORD-B", "CU0000002", "mobile_app", "paypal"),
            new_line(s, "ORD-B", 1, "BK0000003", 1, "20.00"),
        ),
        commit(
            conn, set_line("ORD-A", 1, "quantity = %s", 3), set_line("ORD-B", 1, "unit_price = %s", "18.50")
        ),
        commit(conn, set_line("ORD-A", 2, "status = %s", "cancelled")),
        commit(conn, delete_line("ORD-B", 1)),
        # Inserted and edited in one transaction: one sale of the final state;
        # a touch of a non-economic column: nothing.
        commit(
            conn,
            new_order(s, "ORD-C", "CU0000003", "marketplace", "invoice"),
            new_line(s, "ORD-C", 1, "BK0000004", 1, "7.49"),
            set_line("ORD-C", 1, "quantity = %s", 4),
            set_line("ORD-A", 1, "updated_at = now()"),
        ),
        commit(conn, set_line("ORD-A", 2, "status = %s", "active")),  # reinstated: sale again
        commit(
            conn, ("UPDATE shop_order SET channel = 'phone' WHERE number = 'ORD-C'", ())
        ),  # no line: nothing
        commit(conn, set_line("ORD-A", 1, "book_id = %s", s.books["BK0000002"])),  # another book: correction
    ]
    conn.close()

    capture = run_once(s)
    published = read_topic(s.settings, s.topic)
    ordered = in_commit_order(published)
    expected = [
        (xids[0], ("sale", "ORD-A", 1, "BK0000001", 2, 1299, 0)),
        (xids[0], ("sale", "ORD-A", 2, "BK0000002", 1, 500, 1000)),
        (xids[0], ("sale", "ORD-B", 1, "BK0000003", 1, 2000, 0)),
        (xids[1], ("refund", "ORD-A", 1, "BK0000001", 2, 1299, 0)),
        (xids[1], ("sale", "ORD-A", 1, "BK0000001", 3, 1299, 0)),
        (xids[1], ("refund", "ORD-B", 1, "BK0000003", 1, 2000, 0)),
        (xids[1], ("sale", "ORD-B", 1, "BK0000003", 1, 1850, 0)),
        (xids[2], ("refund", "ORD-A", 2, "BK0000002", 1, 500, 1000)),
        (xids[3], ("refund", "ORD-B", 1, "BK0000003", 1, 1850, 0)),
        (xids[4], ("sale", "ORD-C", 1, "BK0000004", 4, 749, 0)),
        (xids[5], ("sale", "ORD-A", 2, "BK0000002", 1, 500, 1000)),
        (xids[7], ("refund", "ORD-A", 1, "BK0000001", 3, 1299, 0)),
        (xids[7], ("sale", "ORD-A", 1, "BK0000002", 3, 1299, 0)),
    ]
    assert [(p.xid, summary(p.event)) for p in ordered] == expected
    assert capture.stats.events_published == len(expected) and capture.stats.events_skipped == 0

    # Enrichment from the order and customer rows.
    by_order = {p.event.order_id: p.event for p in ordered}
    assert (by_order["ORD-A"].customer_id, by_order["ORD-A"].region) == ("CU0000001", "uk")
    assert (by_order["ORD-B"].channel, by_order["ORD-B"].payment_method) == ("mobile_app", "paypal")
    assert (by_order["ORD-C"].channel, by_order["ORD-C"].region) == ("marketplace", "apac")
    # Keyed by order id; per partition in commit order; commit LSNs increase with the commits.
    assert all(p.key == p.event.order_id for p in published)
    for partition in {p.partition for p in published}:
        seq = [(p.lsn, p.pos) for p in sorted(published, key=lambda p: p.offset) if p.partition == partition]
        assert seq == sorted(seq)
    lsn_of_xid = {p.xid: p.lsn for p in ordered}
    assert [lsn_of_xid[x] for x in xids if x in lsn_of_xid] == sorted(lsn_of_xid.values())
    assert all(p.count == sum(q.lsn == p.lsn for q in ordered) for p in ordered)
    # Deterministic ids: uuid5(database, commit LSN, line id, role).
    with contextlib.closing(s.connect()) as c, c.cursor() as cur:
        for p in ordered:
            cur.execute(
                "SELECT l.id FROM shop_orderline l JOIN shop_order o ON o.id = l.order_id "
                "WHERE o.number = %s AND l.line_no = %s",
                (p.event.order_id, p.event.line_no),
            )
            row = cur.fetchone()
            if row is not None:
                name = f"{s.database}/{format_lsn(p.lsn)}/{row[0]}/{p.event.event_type}"
                assert p.event.event_id == str(uuid.uuid5(mapping.EVENT_NAMESPACE, name))
        # Net revenue on the topic equals the revenue of the lines still active in the shop.
        cur.execute(
            "SELECT COALESCE(SUM(ROUND(quantity * unit_price * 100 * (1 - discount))), 0) "
            "FROM shop_orderline WHERE status = 'active'"
        )
        assert sum(p.event.revenue_cents for p in published) == int(cur.fetchone()[0])

    # The position is stored: the slot and the state table agree, and a rerun publishes nothing.
    conn = source.connect(s.url)
    info = source.slot_info(conn, source.slot_name(s.database))
    stored = source.stored_position(conn, source.slot_name(s.database))
    conn.close()
    # (psycopg2 may move the slot further on the server's keepalives once all is confirmed.)
    assert info is not None and info.confirmed_lsn >= capture.stats.confirmed_lsn >= max(
        p.lsn for p in published
    )
    assert stored is not None and stored["events_published"] == len(expected)
    assert run_once(s).stats.events_published == 0
    assert len(read_topic(s.settings, s.topic)) == len(expected)


class _CrashAfterProducing(Capture):
    """Publishes events but 'dies' before confirming any of them to the slot
    (after ``limit`` events: a commit can be cut in the middle)."""

    def __init__(self, *args, limit: int, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.limit = limit

    def handle(self, tx) -> None:  # type: ignore[no-untyped-def]
        produce = self.publisher.produce

        def limited(*a, **k) -> None:  # type: ignore[no-untyped-def]
            if self._pending_published >= self.limit:
                self.publisher.flush()
                raise KeyboardInterrupt("simulated crash")
            produce(*a, **k)

        self.publisher.produce = limited  # type: ignore[method-assign]
        super().handle(tx)

    def confirm(self, force: bool = False) -> None:
        pass  # on the broker, never confirmed to the slot


def test_replay_after_a_crash_between_publish_and_confirm_skips_exactly_what_was_published(
    shop: Shop,
) -> None:
    s = shop
    run_once(s)
    conn = s.connect()
    for i in range(6):
        number = f"ORD-{i}"
        commit(
            conn,
            new_order(s, number, "CU0000001"),
            new_line(s, number, 1, "BK0000001", 1 + i, "12.99"),
            new_line(s, number, 2, "BK0000002", 1, "5.00"),
        )
    commit(conn, set_line("ORD-0", 1, "quantity = %s", 9), set_line("ORD-1", 2, "status = %s", "cancelled"))
    conn.close()

    crashed = _CrashAfterProducing(s.settings, ONCE, limit=7)  # 3 commits and half of the 4th
    with contextlib.suppress(KeyboardInterrupt):
        crashed.run()
    assert len(read_topic(s.settings, s.topic)) == 7

    resumed = run_once(s)
    assert (resumed.stats.events_skipped, resumed.stats.events_published) == (7, 8)
    published = read_topic(s.settings, s.topic)
    ids = Counter(p.event.event_id for p in published)
    assert len(published) == 15 and max(ids.values()) == 1
    assert [summary(p.event)[:3] for p in in_commit_order(published)][-3:] == [
        ("refund", "ORD-0", 1),
        ("sale", "ORD-0", 1),
        ("refund", "ORD-1", 2),
    ]
    # And a third run has nothing left to do.
    again = run_once(s)
    assert (again.stats.events_skipped, again.stats.events_published) == (0, 0)
