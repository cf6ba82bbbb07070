"""The measures, defined once and rendered for every engine.

Money is integer cents everywhere inside SalesPulse; discounts are integer
basis points (1/10,000).  Revenue of one line is

    sign * round_half_up(quantity * unit_price_cents * (10000 - discount_bp) / 10000)

with ``sign`` -1 for refunds.  Rounding is applied to the magnitude, so a
refund is exactly the negative of the sale it reverses.  The same formula is
given here as a Python function, a NumPy function, a Spark column and a SQL
expression; tests check that all four agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column

BP_SCALE = 10_000
SALE = "sale"
REFUND = "refund"
EVENT_TYPES = (SALE, REFUND)


def revenue_cents(quantity: int, unit_price_cents: int, discount_bp: int, event_type: str) -> int:
    """Revenue of one line in cents, negative for refunds."""
    gross = quantity * unit_price_cents * (BP_SCALE - discount_bp)
    magnitude = (gross + BP_SCALE // 2) // BP_SCALE
    return -magnitude if event_type == REFUND else magnitude


def revenue_cents_np(
    quantity: np.ndarray, unit_price_cents: np.ndarray, discount_bp: np.ndarray, is_refund: np.ndarray
) -> np.ndarray:
    """Vectorised :func:`revenue_cents` (int64 throughout, no float rounding)."""
    gross = (
        quantity.astype(np.int64)
        * unit_price_cents.astype(np.int64)
        * (BP_SCALE - discount_bp.astype(np.int64))
    )
    magnitude = (gross + BP_SCALE // 2) // BP_SCALE
    return np.where(is_refund, -magnitude, magnitude)


def revenue_cents_col(
    quantity: str = "quantity",
    unit_price_cents: str = "unit_price_cents",
    discount_bp: str = "discount_bp",
    event_type: str = "event_type",
) -> Column:
    """Spark column for :func:`revenue_cents` (imports pyspark lazily)."""
    from pyspark.sql import functions as F

    gross = (
        F.col(quantity).cast("long")
        * F.col(unit_price_cents).cast("long")
        * (F.lit(BP_SCALE) - F.col(discount_bp).cast("long"))
    )
    magnitude = F.floor((gross + F.lit(BP_SCALE // 2)) / F.lit(BP_SCALE)).cast("long")
    return F.when(F.col(event_type) == REFUND, -magnitude).otherwise(magnitude)


def revenue_cents_sql(
    quantity: str = "quantity",
    unit_price_cents: str = "unit_price_cents",
    discount_bp: str = "discount_bp",
    event_type: str = "event_type",
) -> str:
    """SQL expression (PostgreSQL and Redshift) for :func:`revenue_cents`.

    Integer division of non-negative BIGINTs truncates, which is floor here.
    """
    magnitude = (
        f"((CAST({quantity} AS BIGINT) * CAST({unit_price_cents} AS BIGINT) * "
        f"({BP_SCALE} - CAST({discount_bp} AS BIGINT)) + {BP_SCALE // 2}) / {BP_SCALE})"
    )
    return f"(CASE WHEN {event_type} = '{REFUND}' THEN -{magnitude} ELSE {magnitude} END)"


def signed_units(quantity: int, event_type: str) -> int:
    """Units sold net of refunds: refunds subtract."""
    return -quantity if event_type == REFUND else quantity


def average_order_value_cents(revenue: int, orders: int) -> int:
    """Revenue per order, rounded half up; 0 when there are no orders."""
    if orders <= 0:
        return 0
    sign = -1 if revenue < 0 else 1
    return sign * ((abs(revenue) * 2 + orders) // (2 * orders))


def cents_to_decimal_str(cents: int) -> str:
    """``1234`` -> ``"12.34"``, ``-5`` -> ``"-0.05"``: presentation only."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"


def counts_as_order(line_no: int, event_type: str) -> bool:
    """An order is counted once, by its first sale line.

    Counting first lines instead of distinct order ids keeps the speed layer's
    order count an O(1) increment (no per-day set of ids in Redis) while
    agreeing exactly with the batch layer, which applies the same rule.
    """
    return line_no == 1 and event_type == SALE


def summarise(rows: Any) -> dict[str, int]:
    """Totals over ``(line_no, quantity, revenue_cents, event_type)`` tuples.

    The reference computation that tests compare every engine against.
    """
    revenue = units = events = refunds = orders = 0
    for line_no, quantity, rev, event_type in rows:
        events += 1
        revenue += rev
        units += signed_units(quantity, event_type)
        refunds += event_type == REFUND
        orders += counts_as_order(line_no, event_type)
    return {
        "revenue_cents": revenue,
        "units": units,
        "events": events,
        "refunds": refunds,
        "orders": orders,
    }
