"""Committed shop changes -> ``sale.v1`` events: pure functions, no I/O.

The unit of meaning is an order line.  Within one transaction a line may be
written several times (inserted then edited, say); only its state before the
transaction and after it matter, so changes are first netted per line.  Then:

* nothing active before, active after -> a ``sale`` of the new line;
* active before, nothing active after (cancelled or deleted) -> a ``refund``
  of the old line;
* active before and after with a different quantity, price, discount, book or
  order -> a correction: ``refund`` of the old line, then ``sale`` of the new;
* anything else (a status-neutral touch, a cancelled line edited) -> nothing.

Event ids are UUIDv5 of (source database, commit LSN, line id, role), so a
replay after a crash rebuilds byte-identical events and downstream dedup on
``event_id`` holds.  The event time is the commit time: the moment the change
became true in the shop.

Orders, books and customers are looked up in a :class:`Directory` that the
caller fills from the same change stream (and from the database on a miss),
because an order line row alone carries only foreign keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from salespulse.cdc.pgoutput import format_lsn
from salespulse.cdc.transactions import DELETE, INSERT, TRUNCATE, UPDATE, Row, RowChange, Transaction
from salespulse.events import SaleEvent
from salespulse.metrics import REFUND, SALE
from salespulse.reference import CURRENCY, UNKNOWN

ORDERLINE_TABLE = "shop_orderline"
ORDER_TABLE = "shop_order"
BOOK_TABLE = "shop_book"
CUSTOMER_TABLE = "shop_customer"
SHOP_TABLES = (BOOK_TABLE, CUSTOMER_TABLE, ORDER_TABLE, ORDERLINE_TABLE)
ACTIVE = "active"
#: Namespace of CDC event ids (a fixed UUIDv5 of the project's name and role).
EVENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://salespulse.invalid/cdc/sale.v1")


class MappingError(ValueError):
    """A change the mapping cannot interpret (e.g. an update without its old row)."""


def decimal_to_int(text: str, places: int) -> int:
    """Exact fixed-point text -> integer units: ``('12.99', 2)`` -> 1299, ``('0.1', 4)`` -> 1000."""
    raw = text.strip()
    negative = raw.startswith("-")
    whole, _, frac = raw.lstrip("+-").partition(".")
    if not (whole or frac) or not (whole or "0").isdigit() or (frac and not frac.isdigit()):
        raise MappingError(f"not a decimal: {text!r}")
    if len(frac) > places and frac[places:].strip("0"):
        raise MappingError(f"{text!r} has more than {places} decimal places")
    value = int(whole or "0") * 10**places + int((frac[:places] or "0").ljust(places, "0"))
    return -value if negative else value


@dataclass(frozen=True, slots=True)
class LineState:
    """What an order line is, in the units of the sale contract."""

    line_pk: int
    order_pk: int
    line_no: int
    book_pk: int
    quantity: int
    unit_price_cents: int
    discount_bp: int
    active: bool

    @property
    def economics(self) -> tuple[int, int, int, int, int, int]:
        """Everything a sale event depends on; equal economics need no correction."""
        return (
            self.order_pk,
            self.line_no,
            self.book_pk,
            self.quantity,
            self.unit_price_cents,
            self.discount_bp,
        )


def _required(row: Row, name: str) -> str:
    value = row.get(name)
    if value is None:
        raise MappingError(f"{ORDERLINE_TABLE}.{name} is missing or NULL")
    return value


def line_state(row: Row) -> LineState:
    """A ``shop_orderline`` row (pgoutput text values) -> :class:`LineState`."""
    try:
        return LineState(
            line_pk=int(_required(row, "id")),
            order_pk=int(_required(row, "order_id")),
            line_no=int(_required(row, "line_no")),
            book_pk=int(_required(row, "book_id")),
            quantity=int(_required(row, "quantity")),
            unit_price_cents=decimal_to_int(_required(row, "unit_price"), 2),
            discount_bp=decimal_to_int(_required(row, "discount"), 4),
            active=_required(row, "status") == ACTIVE,
        )
    except ValueError as exc:
        raise MappingError(f"bad {ORDERLINE_TABLE} row {row}: {exc}") from None


@dataclass(frozen=True, slots=True)
class LineDelta:
    """One line's net change over a transaction (``None`` = did not exist)."""

    line_pk: int
    before: LineState | None
    after: LineState | None


def net_line_deltas(changes: Iterable[RowChange]) -> list[LineDelta]:
    """Net the order-line changes of one transaction per line, in order of first touch."""
    first_before: dict[int, LineState | None] = {}
    last_after: dict[int, LineState | None] = {}
    for change in changes:
        if change.table != ORDERLINE_TABLE or change.op == TRUNCATE:
            continue
        if change.op in (UPDATE, DELETE) and change.old is None:
            raise MappingError(
                f"{change.op} of {ORDERLINE_TABLE} without the old row: the table needs REPLICA IDENTITY FULL"
            )
        before = line_state(change.old) if change.old is not None and change.op != INSERT else None
        after = line_state(change.new) if change.new is not None else None
        pk = (after or before).line_pk  # type: ignore[union-attr]
        if pk not in first_before:
            first_before[pk] = before
        last_after[pk] = after
    return [LineDelta(pk, first_before[pk], last_after[pk]) for pk in first_before]


def line_roles(delta: LineDelta) -> list[tuple[str, LineState]]:
    """The events one net line change stands for: ``[(event_type, state)]``, refund first."""
    before = delta.before if delta.before is not None and delta.before.active else None
    after = delta.after if delta.after is not None and delta.after.active else None
    if before is not None and after is not None and before.economics == after.economics:
        return []
    roles: list[tuple[str, LineState]] = []
    if before is not None:
        roles.append((REFUND, before))
    if after is not None:
        roles.append((SALE, after))
    return roles


def truncated_tables(tx: Transaction) -> list[str]:
    """Shop tables truncated in ``tx``: no row images, so no events; the caller must warn."""
    return [c.table for c in tx.changes if c.op == TRUNCATE]


# -- reference lookups --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderInfo:
    number: str
    customer_pk: int
    channel: str
    payment_method: str
    currency: str


@dataclass(frozen=True, slots=True)
class CustomerInfo:
    code: str
    region: str


@dataclass
class Directory:
    """Orders, books and customers by primary key, as last seen in commit order.

    Bounded: when a map grows past ``max_entries`` it is emptied (misses are
    then read from the database again), which keeps a long-running capture's
    memory flat without LRU bookkeeping on the hot path.
    """

    orders: dict[int, OrderInfo] = field(default_factory=dict)
    books: dict[int, str] = field(default_factory=dict)
    customers: dict[int, CustomerInfo] = field(default_factory=dict)
    max_entries: int = 200_000

    def trim(self) -> None:
        for mapping in (self.orders, self.books, self.customers):
            if len(mapping) > self.max_entries:
                mapping.clear()


def order_info(row: Row) -> OrderInfo:
    return OrderInfo(
        number=row.get("number") or UNKNOWN,
        customer_pk=int(row.get("customer_id") or 0),
        channel=row.get("channel") or UNKNOWN,
        payment_method=row.get("payment_method") or UNKNOWN,
        currency=row.get("currency") or CURRENCY,
    )


def customer_info(row: Row) -> CustomerInfo:
    return CustomerInfo(code=row.get("code") or UNKNOWN, region=row.get("region") or UNKNOWN)


def absorb(directory: Directory, changes: Iterable[RowChange]) -> None:
    """Record the order/book/customer rows a transaction carries (deleted rows too:
    their old image still describes lines deleted with them in the same commit)."""
    for change in changes:
        row = change.new if change.new is not None else change.old
        if row is None or row.get("id") is None:
            continue
        pk = int(row["id"])  # type: ignore[arg-type]
        if change.table == ORDER_TABLE:
            directory.orders[pk] = order_info(row)
        elif change.table == BOOK_TABLE:
            directory.books[pk] = row.get("code") or UNKNOWN
        elif change.table == CUSTOMER_TABLE:
            directory.customers[pk] = customer_info(row)


def missing_orders_and_books(directory: Directory, deltas: Iterable[LineDelta]) -> tuple[set[int], set[int]]:
    orders: set[int] = set()
    books: set[int] = set()
    for delta in deltas:
        for state in (delta.before, delta.after):
            if state is None:
                continue
            if state.order_pk not in directory.orders:
                orders.add(state.order_pk)
            if state.book_pk not in directory.books:
                books.add(state.book_pk)
    return orders, books


def missing_customers(directory: Directory, order_pks: Iterable[int]) -> set[int]:
    wanted = {directory.orders[pk].customer_pk for pk in order_pks if pk in directory.orders}
    return {pk for pk in wanted if pk not in directory.customers}


# -- events ---------------------------------------------------------------------


def event_id(source: str, commit_lsn: int, line_pk: int, role: str) -> str:
    """Deterministic id: the same committed change always yields the same event id."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{source}/{format_lsn(commit_lsn)}/{line_pk}/{role}"))


def sale_event(source: str, tx: Transaction, role: str, state: LineState, directory: Directory) -> SaleEvent:
    order = directory.orders.get(state.order_pk) or OrderInfo(UNKNOWN, 0, UNKNOWN, UNKNOWN, CURRENCY)
    customer = directory.customers.get(order.customer_pk) or CustomerInfo(UNKNOWN, UNKNOWN)
    return SaleEvent(
        event_id=event_id(source, tx.commit_lsn, state.line_pk, role),
        event_type=role,
        event_time_ms=tx.commit_time_ms,
        order_id=order.number,
        line_no=state.line_no,
        customer_id=customer.code,
        product_id=directory.books.get(state.book_pk, UNKNOWN),
        quantity=state.quantity,
        unit_price_cents=state.unit_price_cents,
        discount_bp=state.discount_bp,
        currency=order.currency,
        channel=order.channel,
        region=customer.region,
        payment_method=order.payment_method,
    )


def transaction_events(
    source: str, tx: Transaction, deltas: Iterable[LineDelta], directory: Directory
) -> list[SaleEvent]:
    """The events of one commit, in a fixed order (line first touched, refund before sale)."""
    return [
        sale_event(source, tx, role, state, directory)
        for delta in deltas
        for role, state in line_roles(delta)
    ]
