"""Simulated interactions: deterministic, causally before the sales they lead to, realistic ratios."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest

from salespulse.interactions.contract import decode
from salespulse.interactions.simulate import interactions_for_lines
from salespulse.reference import build_catalogue
from salespulse.simulation import orders_to_lines, rhythm_times_ms

T0 = 1_767_225_600_000  # 2026-01-01T00:00Z


@pytest.fixture(scope="module")
def catalogue():  # type: ignore[no-untyped-def]
    return build_catalogue(42, 2000, 5000)


@pytest.fixture(scope="module")
def lines(catalogue):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(11)
    return orders_to_lines(rng, catalogue, rhythm_times_ms(rng, T0, T0 + 86_400_000, 1500), refund_rate=0.05)


@pytest.fixture(scope="module")
def interactions(catalogue, lines):  # type: ignore[no-untyped-def]
    return [decode(raw) for raw in interactions_for_lines(np.random.default_rng(5), catalogue, lines)]


def test_deterministic(catalogue, lines) -> None:  # type: ignore[no-untyped-def]
    a = interactions_for_lines(np.random.default_rng(5), catalogue, lines)
    b = interactions_for_lines(np.random.default_rng(5), catalogue, lines)
    c = interactions_for_lines(np.random.default_rng(6), catalogue, lines)
    assert a == b
    assert a != c


def test_time_ordered_and_unique(interactions) -> None:  # type: ignore[no-untyped-def]
    times = [i.event_time_ms for i in interactions]
    assert times == sorted(times)
    assert len({i.interaction_id for i in interactions}) == len(interactions)


def test_every_bought_line_was_carted_and_every_order_checked_out_before_the_sale(
    lines, interactions
) -> None:  # type: ignore[no-untyped-def]
    sale = lines["event_type"] == "sale"
    checkouts = [i for i in interactions if i.kind == "checkout_started" and i.order_id]
    by_order = {i.order_id: i for i in checkouts}
    assert len(by_order) == len(checkouts) == len(set(lines["order_id"][sale].tolist()))
    carts: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i in interactions:
        if i.kind == "add_to_cart":
            carts[(i.session_id, i.product_id)].append(i.event_time_ms)
    for order_id, product_id, t, line_no, channel, customer in zip(
        lines["order_id"][sale], lines["product_id"][sale], lines["event_time"][sale],
        lines["line_no"][sale], lines["channel"][sale], lines["customer_id"][sale], strict=True,
    ):  # fmt: skip
        checkout = by_order[order_id]
        assert checkout.event_time_ms < t
        assert (checkout.channel, checkout.customer_id) == (channel, customer)
        assert any(ct <= checkout.event_time_ms for ct in carts[(checkout.session_id, product_id)])
        if line_no == 1:
            assert checkout.product_id == product_id
    # Refund lines have no journey: interactions only reference sale orders.
    assert set(by_order) == set(lines["order_id"][sale].tolist())


def test_realistic_ratios(lines, interactions) -> None:  # type: ignore[no-untyped-def]
    kinds = Counter(i.kind for i in interactions)
    orders = int(((lines["event_type"] == "sale") & (lines["line_no"] == 1)).sum())
    conversion = orders / kinds["product_view"]
    assert 0.025 < conversion < 0.05
    assert kinds["product_view"] > kinds["add_to_cart"] > kinds["checkout_started"] > orders
    assert kinds["remove_from_cart"] < kinds["add_to_cart"]
    assert sum(i.customer_id is None for i in interactions) > 0  # anonymous shoppers exist
    per_channel = {
        ch: orders_ch / max(1, sum(i.kind == "product_view" and i.channel == ch for i in interactions))
        for ch, orders_ch in Counter(
            lines["channel"][(lines["event_type"] == "sale") & (lines["line_no"] == 1)].tolist()
        ).items()
    }
    assert per_channel["marketplace"] < per_channel["web"] < per_channel["retail_store"]


def test_no_lines_no_interactions(catalogue) -> None:  # type: ignore[no-untyped-def]
    empty = {"event_type": np.array([], dtype="U6")}
    assert interactions_for_lines(np.random.default_rng(1), catalogue, empty) == []
