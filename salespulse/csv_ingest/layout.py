"""Pure reading of a CSV export's bytes: encoding, delimiter, header, records with line numbers.

Exports from other systems disagree on everything a CSV can disagree on, so
nothing is assumed: the encoding is detected from the bytes, and the header
line and delimiter are chosen together as the first line (of the first few)
that, split by one of ``,`` ``;`` tab ``|``, names every required column under
one of its aliases.  A file where that fails is unreadable and is quarantined
whole, with the reason.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

DELIMITERS = (",", ";", "\t", "|")
REQUIRED = ("order_id", "customer_id", "product_id", "quantity", "unit_price", "order_date")
OPTIONAL = ("line_no", "discount", "region", "channel", "currency", "payment_method")
#: Canonical column -> accepted header names, compared after :func:`header_key`.
ALIASES: dict[str, tuple[str, ...]] = {
    "order_id": ("orderid", "order", "ordernumber", "orderno", "ordernum", "ordernr", "orderref",
                 "invoiceid", "invoiceno", "invoicenumber", "invoice", "transactionid"),
    "customer_id": ("customerid", "customer", "custid", "customernumber", "customerno", "clientid",
                    "client", "buyerid", "accountid"),
    "product_id": ("productid", "product", "productcode", "sku", "itemid", "item", "bookid", "isbn",
                   "articleid", "article"),
    "quantity": ("quantity", "qty", "quantityordered", "units", "unitsold", "unitssold", "pieces", "pcs"),
    "unit_price": ("unitprice", "price", "priceeach", "itemprice", "saleprice", "unitcost", "priceperunit",
                   "listprice"),
    "order_date": ("orderdate", "date", "orderdatetime", "ordertime", "datetime", "timestamp", "saledate",
                   "transactiondate", "purchasedate", "createdat", "eventtime"),
    "line_no": ("lineno", "linenumber", "line", "linenum", "lineid", "orderline", "orderlineno",
                "orderlinenumber", "lineitem", "position", "pos"),
    "discount": ("discount", "disc", "discountrate", "discountpct", "discountpercent", "discountpercentage"),
    "region": ("region", "salesregion", "customerregion", "area"),
    "channel": ("channel", "saleschannel", "orderchannel"),
    "currency": ("currency", "currencycode", "curr", "ccy"),
    "payment_method": ("paymentmethod", "payment", "paymenttype", "paidwith"),
}  # fmt: skip
_ALIAS_TO_FIELD = {alias: field for field, aliases in ALIASES.items() for alias in aliases}
HEADER_SEARCH_LINES = 10


class UnreadableFile(ValueError):
    """The file cannot be read as a sales CSV; the message is the quarantine reason."""


@dataclass(frozen=True, slots=True)
class Layout:
    encoding: str
    delimiter: str
    header_line: int  # 1-based physical line of the header
    header: tuple[str, ...]  # original header cells
    columns: dict[str, int]  # canonical field -> column index
    ignored: tuple[str, ...]  # header cells that map to nothing (extra or empty columns)


@dataclass(frozen=True, slots=True)
class Record:
    line_number: int  # 1-based physical line where the record starts
    cells: tuple[str, ...]


def header_key(name: str) -> str:
    """``" Order ID "``, ``order_id``, ``orderId``, ``ORDER-ID`` -> ``"orderid"``."""
    return re.sub(r"[^0-9a-z]", "", name.replace("\ufeff", "").casefold())


def map_header(cells: list[str]) -> tuple[dict[str, int], tuple[str, ...]]:
    """Canonical field -> index of its first column, and the cells that map to nothing."""
    columns: dict[str, int] = {}
    ignored = []
    for i, cell in enumerate(cells):
        field = _ALIAS_TO_FIELD.get(header_key(cell))
        if field is None or field in columns:
            ignored.append(cell)
        else:
            columns[field] = i
    return columns, tuple(ignored)


def decode(data: bytes) -> tuple[str, str]:
    """Bytes -> (text, encoding): UTF-8 with or without BOM, UTF-16 with BOM, else Windows-1252/Latin-1."""
    if not data.strip():
        raise UnreadableFile("empty file")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise UnreadableFile(f"invalid UTF-16: {exc}") from None
    if b"\x00" in data[:4096]:
        raise UnreadableFile("binary content (NUL bytes), not a text CSV")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def detect_layout(text: str, encoding: str) -> Layout:
    """Find the header line and delimiter: the first line naming all required columns."""
    lines = re.split(r"\r\n|\r|\n", text)  # the line ends the csv module knows
    best: tuple[int, list[str]] = (-1, list(REQUIRED))
    for number, line in enumerate(lines[: HEADER_SEARCH_LINES * 3], start=1):
        if not line.strip():
            continue
        for delimiter in DELIMITERS:
            if delimiter not in line:
                continue
            cells = next(csv.reader([line], delimiter=delimiter))
            columns, ignored = map_header(cells)
            missing = [f for f in REQUIRED if f not in columns]
            if not missing:
                return Layout(encoding, delimiter, number, tuple(cells), columns, ignored)
            if len(columns) > best[0]:
                best = (len(columns), missing)
        if number >= HEADER_SEARCH_LINES:
            break
    raise UnreadableFile(
        f"no header line naming the required columns in the first {HEADER_SEARCH_LINES} lines "
        f"(delimiters , ; tab |); missing: {', '.join(best[1])}"
    )


def records(text: str, layout: Layout) -> Iterator[Record]:
    """Data records after the header, with the physical line each starts on; blank lines skipped.

    Quoted fields may contain delimiters, quotes (doubled) and newlines.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=layout.delimiter)
    previous_end = 0
    for cells in reader:
        start, previous_end = previous_end + 1, reader.line_num
        if start <= layout.header_line:
            continue
        if not any(cell.strip() for cell in cells):
            continue
        yield Record(start, tuple(cells))
