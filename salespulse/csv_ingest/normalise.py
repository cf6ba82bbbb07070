"""Pure normalisation of CSV records into raw-zone columns, with a reason for every rejection.

A CSV line has no event id of its own, so it gets a deterministic one: a
UUIDv5 of its order id and line identity (the line number, or the product id
when the file has no line numbers).  A re-delivered or corrected line
therefore carries the same ``event_id`` as the version it replaces, and the
batch job keeps the latest ``ingested_at``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from salespulse.csv_ingest import values as v
from salespulse.csv_ingest.layout import Layout, Record
from salespulse.metrics import SALE, revenue_cents
from salespulse.reference import CHANNELS, CURRENCY, PAYMENT_METHODS, REGIONS, UNKNOWN

#: Namespace of CSV line event ids (fixed forever: changing it would duplicate every CSV line).
CSV_LINE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://salespulse/csv-line")
_REGION_CODES = {_k: r.code for r in REGIONS for _k in (r.code, r.name)}
_CHANNEL_CODES = {_k: c.code for c in CHANNELS for _k in (c.code, c.name)}


def _key(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.casefold())


_REGION_BY_KEY = {_key(k): code for k, code in _REGION_CODES.items()}
_CHANNEL_BY_KEY = {_key(k): code for k, code in _CHANNEL_CODES.items()}
_PAYMENT_BY_KEY = {_key(p): p for p in PAYMENT_METHODS}


def line_event_id(order_id: str, line_no: int | None, product_id: str) -> str:
    """Deterministic event id of a CSV line: by (order, line number), else (order, product)."""
    identity = f"line\x1f{line_no}" if line_no is not None else f"product\x1f{product_id}"
    return str(uuid.uuid5(CSV_LINE_NAMESPACE, f"{order_id}\x1f{identity}"))


@dataclass(frozen=True, slots=True)
class Rejection:
    line_number: int
    cells: tuple[str, ...]
    reason: str


@dataclass(slots=True)
class Normalised:
    """Accepted rows as columns (raw schema names, minus what the writer adds) and the rejections."""

    columns: dict[str, list] = field(default_factory=dict)  # type: ignore[type-arg]
    line_numbers: list[int] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def loaded(self) -> int:
        return len(self.line_numbers)


def _member(text: str, table: Mapping[str, str]) -> str:
    """Known codes and names map to the code; other text is kept (an unknown member later)."""
    raw = text.strip()
    if not raw:
        return UNKNOWN
    return table.get(_key(raw), raw)


def _row(
    cells: Sequence[str], layout: Layout, decimal_sep: str, region_of: Mapping[str, str]
) -> tuple[dict[str, object] | None, list[str]]:
    """One record -> (row fields, []) or (None, every reason it is rejected)."""

    def cell(name: str) -> str:
        i = layout.columns.get(name)
        return cells[i] if i is not None and i < len(cells) else ""

    reasons: list[str] = []
    out: dict[str, object] = {}
    parsed = (
        ("order_id", v.clean_id(cell("order_id"), "order id")),
        ("customer_id", v.clean_id(cell("customer_id"), "customer id")),
        ("product_id", v.clean_id(cell("product_id"), "product id")),
        ("quantity", v.parse_quantity(cell("quantity"), decimal_sep)),
        ("unit_price_cents", v.parse_price_cents(cell("unit_price"), decimal_sep)),
        ("event_time", v.parse_order_time_ms(cell("order_date"))),
        ("line_no", v.parse_line_no(cell("line_no"))),
        ("discount_bp", v.parse_discount_bp(cell("discount"), decimal_sep)),
    )
    for name, (value, reason) in parsed:
        if reason:
            reasons.append(reason)
        out[name] = value
    currency = cell("currency").strip().upper() or CURRENCY
    if not re.fullmatch(r"[A-Z]{3}", currency):
        reasons.append(f"invalid currency: {cell('currency').strip()!r}")
    if reasons:
        return None, reasons
    customer = str(out["customer_id"])
    region = cell("region")
    out["currency"] = currency
    out["region"] = _member(region, _REGION_BY_KEY) if region.strip() else region_of.get(customer, UNKNOWN)
    out["channel"] = _member(cell("channel"), _CHANNEL_BY_KEY)
    out["payment_method"] = _member(cell("payment_method"), _PAYMENT_BY_KEY)
    return out, []


def normalise(
    records: Sequence[Record], layout: Layout, file_name: str, region_of: Mapping[str, str]
) -> Normalised:
    """Records of one file -> accepted columns and rejections; ``read = loaded + rejected``.

    ``region_of`` (customer id -> region) fills the region when the file has
    none.  When a line identity appears twice in one file the later row wins and
    the earlier one is rejected as superseded, so the batch never sees two
    versions with the same ``ingested_at``.
    """
    width = len(layout.header)
    amounts = [
        r.cells[i] for r in records for f in ("unit_price", "discount")
        if (i := layout.columns.get(f)) is not None and i < len(r.cells)
    ]  # fmt: skip
    decimal_sep = v.decimal_separator(amounts)
    result = Normalised()
    accepted: dict[str, tuple[Record, dict[str, object]]] = {}
    for record in records:
        extra = [c for c in record.cells[width:] if c.strip()]
        if extra:
            reason = f"row has {len(record.cells)} fields, the header has {width}"
            result.rejected.append(Rejection(record.line_number, record.cells, reason))
            continue
        row, reasons = _row(record.cells, layout, decimal_sep, region_of)
        if row is None:
            result.rejected.append(Rejection(record.line_number, record.cells, "; ".join(reasons)))
            continue
        event_id = line_event_id(str(row["order_id"]), row["line_no"], str(row["product_id"]))  # type: ignore[arg-type]
        earlier = accepted.pop(event_id, None)
        if earlier is not None:
            what = f"line {row['line_no']}" if row["line_no"] is not None else f"product {row['product_id']}"
            reason = f"superseded by line {record.line_number} (same order {row['order_id']}, {what})"
            result.rejected.append(Rejection(earlier[0].line_number, earlier[0].cells, reason))
        row["event_id"] = event_id
        accepted[event_id] = (record, row)

    kept = sorted(accepted.values(), key=lambda item: item[0].line_number)
    _number_lines_by_product([row for _, row in kept])
    names = ("event_id", "event_type", "event_time", "order_id", "line_no", "customer_id", "product_id",
             "quantity", "unit_price_cents", "discount_bp", "revenue_cents", "currency", "channel", "region",
             "payment_method", "origin")  # fmt: skip
    result.columns = {name: [] for name in names}
    for record, row in kept:
        row["event_type"] = SALE
        row["revenue_cents"] = revenue_cents(
            int(row["quantity"]),  # type: ignore[call-overload]
            int(row["unit_price_cents"]),  # type: ignore[call-overload]
            int(row["discount_bp"]),  # type: ignore[call-overload]
            SALE,
        )
        row["origin"] = f"csv/{file_name}:{record.line_number}"
        for name in names:
            result.columns[name].append(row[name])
        result.line_numbers.append(record.line_number)
    result.rejected.sort(key=lambda r: r.line_number)
    return result


def _number_lines_by_product(rows: list[dict[str, object]]) -> None:
    """Rows identified by product get line numbers 1..k per order, in file order, after explicit ones.

    The warehouse counts an order by its line 1, so every order needs one.
    """
    used: dict[str, set[int]] = {}
    for row in rows:
        if row["line_no"] is not None:
            used.setdefault(str(row["order_id"]), set()).add(int(row["line_no"]))  # type: ignore[call-overload]
    for row in rows:
        if row["line_no"] is None:
            taken = used.setdefault(str(row["order_id"]), set())
            n = 1
            while n in taken:
                n += 1
            taken.add(n)
            row["line_no"] = n
