"""Cell parsers of CSV ingestion: exact values and exact rejection reasons."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from salespulse.csv_ingest import values as v


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("text", "sep", "expected"),
    [
        ("12.99", ".", "12.99"),
        ("12,99", ".", "12.99"),  # a decimal comma with 1-2 digits is unambiguous
        ("1,234.56", ".", "1234.56"),
        ("1.234,56", ".", "1234.56"),
        ("1 234,56", ",", "1234.56"),
        ("1\u00a0234.5", ".", "1234.5"),
        ("1'234.50", ".", "1234.50"),
        ("1,234", ".", "1234"),  # thousands unless the file uses decimal commas
        ("1,234", ",", "1.234"),
        ("1.234", ".", "1.234"),
        ("1.234", ",", "1234"),
        ("1.234.567", ".", "1234567"),
        ("$9.99", ".", "9.99"),
        ("EUR 12,50", ",", "12.50"),
        ("12 €", ".", "12"),
        ("(3.00)", ".", "-3.00"),
        ("-3", ".", "-3"),
        (".5", ".", "0.5"),
        ("abc", ".", None),
        ("1,23,4", ".", None),
        ("12-3", ".", None),
        ("", ".", None),
    ],
)
def test_normalise_number(text, sep, expected):
    assert v.normalise_number(text, sep) == expected


def test_decimal_separator_of_a_file():
    assert v.decimal_separator(["12,99", "1.234,50", "3"]) == ","
    assert v.decimal_separator(["12.99", "1,234.50"]) == "."
    assert v.decimal_separator(["1,234", "5"]) == "."  # ambiguous only: default point
    assert v.decimal_separator(["12,5", "12.50"]) == "."  # conflicting evidence: default point


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-05", ms(2024, 3, 5)),
        ("2024-03-05T10:11:12Z", ms(2024, 3, 5, 10, 11, 12)),
        ("2024-03-05 10:11", ms(2024, 3, 5, 10, 11)),
        ("2024-03-05T10:11:12.250+02:00", ms(2024, 3, 5, 8, 11, 12) + 250),
        ("2024/03/05", ms(2024, 3, 5)),
        ("2024/3/5 07:08:09", ms(2024, 3, 5, 7, 8, 9)),
        ("03/05/2024", ms(2024, 3, 5)),  # MM/DD/YYYY
        ("12/31/2023 23:59", ms(2023, 12, 31, 23, 59)),
        ("05.03.2024", ms(2024, 3, 5)),  # DD.MM.YYYY
        ("31.12.2023 18:45", ms(2023, 12, 31, 18, 45)),
        ("05-Mar-2024", ms(2024, 3, 5)),
        ("5-mar-2024", ms(2024, 3, 5)),
        ("05-March-2024", ms(2024, 3, 5)),
        ("05 Mar 2024", ms(2024, 3, 5)),
    ],
)
def test_order_time_formats(text, expected):
    assert v.parse_order_time_ms(text) == (expected, None)


@pytest.mark.parametrize("text", ["2024-02-30", "2024-13-45", "13/25/2024", "31.02.2024", "05-Foo-2024",
                                  "05-Marc-2024", "yesterday", "24-03-05", "2024.03.05"])  # fmt: skip
def test_unparseable_dates_are_rejected(text):
    assert v.parse_order_time_ms(text) == (None, f"unparseable order date: {text!r}")


def test_missing_date_is_rejected_not_today():
    assert v.parse_order_time_ms("  ") == (None, "missing order date")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", (1, None)),
        (" 2 ", (2, None)),
        ("3.0", (3, None)),
        ("1,000", (1000, None)),
        ("", (None, "missing quantity")),
        ("0", (None, "quantity is not a positive integer: '0'")),
        ("-1", (None, "quantity is not a positive integer: '-1'")),
        ("1.5", (None, "quantity is not a positive integer: '1.5'")),
        ("two", (None, "quantity is not a positive integer: 'two'")),
        ("100001", (None, "quantity above 100000: '100001'")),
    ],
)
def test_parse_quantity(text, expected):
    assert v.parse_quantity(text) == expected


@pytest.mark.parametrize(
    ("text", "sep", "expected"),
    [
        ("12.99", ".", (1299, None)),
        ("12,99", ",", (1299, None)),
        ("1,234.50", ".", (123450, None)),
        ("1.234,50", ",", (123450, None)),
        ("$0.50", ".", (50, None)),
        ("0", ".", (0, None)),
        ("", ".", (None, "missing unit price")),
        ("-3.00", ".", (None, "unit price is negative: '-3.00'")),
        ("(3.00)", ".", (None, "unit price is negative: '(3.00)'")),
        ("abc", ".", (None, "unit price is not a number: 'abc'")),
        ("1.234", ".", (None, "unit price has more than 2 decimal places: '1.234'")),
    ],
)
def test_parse_price_cents(text, sep, expected):
    assert v.parse_price_cents(text, sep) == expected


@pytest.mark.parametrize(
    ("text", "sep", "expected"),
    [
        ("", ".", (0, None)),  # optional column: no discount
        ("0.15", ".", (1500, None)),
        ("0,1", ",", (1000, None)),
        ("15%", ".", (1500, None)),
        ("12.5 %", ".", (1250, None)),
        ("20", ".", (2000, None)),
        ("1", ".", (10000, None)),
        ("150%", ".", (None, "discount is not a number in 0..1 or 0..100% (whole basis points): '150%'")),
        ("-5%", ".", (None, "discount is not a number in 0..1 or 0..100%: '-5%'")),
        ("half", ".", (None, "discount is not a number in 0..1 or 0..100%: 'half'")),
    ],
)
def test_parse_discount_bp(text, sep, expected):
    assert v.parse_discount_bp(text, sep) == expected


def test_line_no_and_ids():
    assert v.parse_line_no("") == (None, None)
    assert v.parse_line_no("2") == (2, None)
    assert v.parse_line_no("0") == (None, "line number is not a positive integer: '0'")
    assert v.parse_line_no("x") == (None, "line number is not a positive integer: 'x'")
    assert v.clean_id("  A-1 ", "order id") == ("A-1", None)
    assert v.clean_id(" ", "order id") == (None, "missing order id")
    assert v.clean_id("x" * 65, "product id") == (None, "product id longer than 64 characters")
