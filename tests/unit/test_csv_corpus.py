"""Layout detection and normalisation over the messy-CSV corpus in tests/data/csv (no I/O but reading)."""

from __future__ import annotations

from pathlib import Path

import pytest

from salespulse.csv_ingest import layout as lay
from salespulse.csv_ingest.normalise import line_event_id, normalise

CORPUS = Path(__file__).resolve().parents[1] / "data" / "csv"
REGION_OF = {"CU0000022": "uk"}


def run(name: str):
    text, encoding = lay.decode((CORPUS / name).read_bytes())
    layout = lay.detect_layout(text, encoding)
    records = list(lay.records(text, layout))
    return layout, records, normalise(records, layout, name, REGION_OF)


def rows(result) -> list[dict]:
    cols = result.columns
    return [{k: cols[k][i] for k in cols} for i in range(result.loaded)]


def test_header_keys_and_aliases():
    assert {
        lay.header_key(h) for h in ("Order ID", "order_id", "orderId", " ORDER-ID ", "\ufefforder id")
    } == {"orderid"}
    columns, ignored = lay.map_header(["Qty", "price", "unit_price", "Date", "", "Notes", "SKU", "client"])
    assert columns == {"quantity": 0, "unit_price": 1, "order_date": 3, "product_id": 6, "customer_id": 7}
    assert ignored == ("unit_price", "", "Notes")  # a second alias of a mapped column is ignored


def test_decode_encodings():
    assert lay.decode("a;é".encode()) == ("a;é", "utf-8")
    assert lay.decode(b"\xef\xbb\xbfa;\xc3\xa9") == ("a;é", "utf-8-sig")
    assert lay.decode(b"a;\xe9") == ("a;é", "cp1252")
    assert lay.decode("a;é".encode("utf-16")) == ("a;é", "utf-16")
    for data, reason in ((b"", "empty file"), (b"\n \n", "empty file"), (b"PK\x03\x04\x00\x00", "binary")):
        with pytest.raises(lay.UnreadableFile, match=reason):
            lay.decode(data)


def test_unreadable_header():
    with pytest.raises(lay.UnreadableFile, match="missing: quantity, unit_price, order_date"):
        lay.detect_layout("order id;customer;product;something\n1;2;3;4\n", "utf-8")


def test_comma_file_every_rejection_reason():
    layout, records, result = run("sales_data_2024-10-18.csv")
    assert (layout.delimiter, layout.header_line, layout.ignored) == (",", 1, ("", "Notes"))
    assert len(records) == 15 and result.loaded == 4
    assert [(r.line_number, r.reason) for r in result.rejected] == [
        (6, "missing quantity"),
        (7, "quantity is not a positive integer: '0'"),
        (8, "quantity is not a positive integer: '1.5'"),
        (9, "unit price is negative: '-3.00'"),
        (10, "unit price is not a number: 'abc'"),
        (11, "missing order date"),
        (12, "unparseable order date: '2024-13-45'"),
        (13, "missing order id"),
        (14, "missing customer id"),
        (15, "missing product id"),
        (16, "missing unit price"),
    ]
    fields = ("order_id", "line_no", "product_id", "quantity", "unit_price_cents", "revenue_cents")
    got = [tuple(r[f] for f in fields) for r in rows(result)]
    assert got == [  # in file order
        ("1001", 1, "BK0000001", 1, 1299, 1299),
        ("1001", 2, "BK0000002", 2, 123450, 246900),
        ("1002", 1, "BK0000003", 1, 999, 999),
        ("1003", 1, "UNKNOWN-SKU", 3, 500, 1500),  # unknown ids are kept
    ]
    assert result.line_numbers == [2, 3, 4, 5]
    first = rows(result)[0]
    assert first["origin"] == "csv/sales_data_2024-10-18.csv:2"
    assert first["event_id"] == line_event_id("1001", 1, "BK0000001")
    assert first["region"] == "unknown" and first["channel"] == "unknown" and first["currency"] == "USD"


def test_corrected_redelivery_later_duplicate_wins():
    _, records, result = run("sales_data_2024-10-18_v2.csv")
    assert len(records) == 5 and result.loaded == 4
    assert [(r.line_number, r.reason) for r in result.rejected] == [
        (2, "superseded by line 6 (same order 1001, line 1)")
    ]
    by_line = {n: r for n, r in zip(result.line_numbers, rows(result), strict=True)}
    assert by_line[6]["unit_price_cents"] == 1249
    assert by_line[3]["quantity"] == 1  # corrected from 2
    assert by_line[3]["event_id"] == line_event_id("1001", 2, "ignored")


def test_semicolon_bom_decimal_comma_file():
    layout, records, result = run("sales_data_2024-10-19.csv")
    assert (layout.encoding, layout.delimiter) == ("utf-8-sig", ";")
    assert len(records) == 6  # the trailing ";;;;;;;" line is blank, not a record
    got = [(r["order_id"], r["line_no"], r["product_id"], r["quantity"], r["unit_price_cents"],
            r["discount_bp"], r["revenue_cents"], r["region"]) for r in rows(result)]  # fmt: skip
    assert got == [
        ("2001", 1, "BK0000021", 1, 1299, 1000, 1169, "eu-central"),
        ("2001", 2, "BK0000022", 1, 123450, 1500, 104933, "eu-central"),
        ("2002", 1, "BK0000023", 2, 750, 0, 1500, "uk"),  # region from the catalogue customer
    ]
    # No line-number column: identity is (order, product).
    assert rows(result)[1]["event_id"] == line_event_id("2001", None, "BK0000022")
    assert [(r.line_number, r.reason) for r in result.rejected] == [
        (5, "unparseable order date: '31.02.2024'"),
        (6, "discount is not a number in 0..1 or 0..100% (whole basis points): '150%'"),
        (7, "quantity is not a positive integer: '-1'"),
    ]


def test_latin1_tab_file_with_preamble():
    layout, records, result = run("sales_data_2024-10-20.csv")
    assert (layout.encoding, layout.delimiter, layout.header_line) == ("cp1252", "\t", 2)
    assert len(records) == 5
    got = [
        (r["order_id"], r["line_no"], r["quantity"], r["unit_price_cents"], r["channel"])
        for r in rows(result)
    ]
    assert got == [("3001", 1, 1, 1999, "web"), ("3001", 2, 1, 500, "mobile_app"),
                   ("3002", 1, 1000, 50, "marketplace")]  # fmt: skip
    assert [(r.line_number, r.reason) for r in result.rejected] == [
        (6, "unparseable order date: '20-Foo-2024'"),
        (7, "row has 9 fields, the header has 8"),
    ]
    assert result.rejected[0].cells[-1] == "é"


def test_pipe_file_quotes_currency_and_offsets():
    layout, _, result = run("sales_data_2024-10-21.csv")
    assert layout.delimiter == "|"
    got = [(r["order_id"], r["product_id"], r["event_time"], r["currency"], r["payment_method"])
           for r in rows(result)]  # fmt: skip
    assert got == [
        ("4001", "BK0000041", 1729468800000, "USD", "card"),
        ("4002", "9780000000002", 1729560600000, "EUR", "paypal"),  # 23:30 at -02:00 = next day 01:30 UTC
        ("4004", "BK0000044", 1729468800000, "USD", "unknown"),  # fully quoted row
    ]
    assert [(r.line_number, r.reason) for r in result.rejected] == [(4, "invalid currency: 'US Dollars'")]


def test_counts_reconcile_for_every_file():
    for path in sorted(CORPUS.glob("sales_data_*.csv")):
        _, records, result = run(path.name)
        assert len(records) == result.loaded + len(result.rejected), path.name
