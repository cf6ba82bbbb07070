"""Revenue is defined once; its Python, NumPy and SQL renderings agree exactly."""

from __future__ import annotations

import numpy as np

from salespulse import metrics


def test_revenue_rounds_half_up_on_the_magnitude() -> None:
    # 1 x 0.05 x (1 - 0.5) = 0.025 -> 0.03 ; refund mirrors the sale
    assert metrics.revenue_cents(1, 5, 5000, "sale") == 3
    assert metrics.revenue_cents(1, 5, 5000, "refund") == -3
    assert metrics.revenue_cents(2, 1999, 0, "sale") == 3998
    assert metrics.revenue_cents(3, 1299, 1000, "sale") == 3507
    assert metrics.revenue_cents(1, 1000, 10000, "sale") == 0


def test_numpy_matches_python_on_random_lines() -> None:
    rng = np.random.default_rng(7)
    q = rng.integers(1, 50, 5000)
    p = rng.integers(0, 100000, 5000)
    d = rng.integers(0, 10001, 5000)
    refund = rng.random(5000) < 0.3
    got = metrics.revenue_cents_np(q, p, d, refund)
    expected = [
        metrics.revenue_cents(int(a), int(b), int(c), "refund" if r else "sale")
        for a, b, c, r in zip(q, p, d, refund, strict=True)
    ]
    assert got.tolist() == expected


def test_sql_expression_text() -> None:
    assert metrics.revenue_cents_sql() == (
        "(CASE WHEN event_type = 'refund' THEN -((CAST(quantity AS BIGINT) * "
        "CAST(unit_price_cents AS BIGINT) * (10000 - CAST(discount_bp AS BIGINT)) + 5000) / 10000) "
        "ELSE ((CAST(quantity AS BIGINT) * CAST(unit_price_cents AS BIGINT) * "
        "(10000 - CAST(discount_bp AS BIGINT)) + 5000) / 10000) END)"
    )


def test_summary_counts_orders_by_first_sale_line() -> None:
    rows = [(1, 2, 500, "sale"), (2, 1, 250, "sale"), (1, 1, -250, "refund"), (1, 4, 1000, "sale")]
    assert metrics.summarise(rows) == {
        "revenue_cents": 1500,
        "units": 6,
        "events": 4,
        "refunds": 1,
        "orders": 2,
    }


def test_average_order_value_and_presentation() -> None:
    assert metrics.average_order_value_cents(1000, 3) == 333
    assert metrics.average_order_value_cents(1001, 2) == 501
    assert metrics.average_order_value_cents(5, 0) == 0
    assert metrics.cents_to_decimal_str(-5) == "-0.05"
    assert metrics.cents_to_decimal_str(123456) == "1234.56"
