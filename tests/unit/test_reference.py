"""The catalogue is a pure function of its seed and sizes."""

from __future__ import annotations

import numpy as np

from salespulse.reference import CHANNELS, GENRES, REGIONS, build_catalogue, isbn13_is_valid


def test_same_seed_same_rows() -> None:
    a = build_catalogue(42, 2000, 500)
    b = build_catalogue(42, 2000, 500)
    assert a.books_table().equals(b.books_table())
    assert a.customers_table().equals(b.customers_table())
    assert np.array_equal(a.popularity, b.popularity)


def test_different_seed_different_rows() -> None:
    a = build_catalogue(42, 2000, 500)
    b = build_catalogue(43, 2000, 500)
    assert a.book_id.tolist() == b.book_id.tolist()  # ids are positional
    assert a.title.tolist() != b.title.tolist()
    assert a.list_price_cents.tolist() != b.list_price_cents.tolist()
    assert a.customer_region.tolist() != b.customer_region.tolist()


def test_books_are_well_formed() -> None:
    cat = build_catalogue(1, 5000, 100)
    books = cat.books_table().to_pylist()
    assert books[0]["book_id"] == "BK0000001"
    assert books[-1]["book_id"] == "BK0005000"
    assert len({b["isbn"] for b in books}) == 5000
    assert all(isbn13_is_valid(b["isbn"]) for b in books)
    assert {b["genre"] for b in books} <= set(GENRES)
    assert all(299 <= b["list_price_cents"] <= 19999 for b in books)
    assert all(b["list_price_cents"] % 100 == 99 for b in books)
    assert all(1951 <= b["publication_year"] <= 2026 for b in books)
    assert abs(cat.popularity.sum() - 1.0) < 1e-9
    # Zipf-like skew: the top 1% of books draw far more than 1% of demand.
    top = np.sort(cat.popularity)[::-1][:50].sum()
    assert top > 0.25


def test_customers_regions_and_channels() -> None:
    cat = build_catalogue(1, 10, 3000)
    customers = cat.customers_table().to_pylist()
    assert customers[0]["customer_id"] == "CU0000001"
    assert {c["region"] for c in customers} == {r.code for r in REGIONS}
    assert {c["segment"] for c in customers} == {"consumer", "business", "education", "library"}
    assert all(str(c["signup_date"]) >= "2016-01-01" for c in customers)
    assert abs(sum(r.weight for r in REGIONS) - 1.0) < 1e-9
    assert abs(sum(c.weight for c in CHANNELS) - 1.0) < 1e-9


def test_isbn_check_digit() -> None:
    assert isbn13_is_valid("9780306406157")
    assert not isbn13_is_valid("9780306406158")
    assert not isbn13_is_valid("978030640615")
