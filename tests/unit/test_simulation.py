"""The shared sales simulation: determinism, exact money, realistic shape."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from salespulse import simulation as sim
from salespulse.lake import RAW_SALES_SCHEMA
from salespulse.metrics import revenue_cents
from salespulse.reference import CHANNELS, PAYMENT_METHODS, build_catalogue

START = int(datetime(2025, 3, 3, tzinfo=UTC).timestamp() * 1000)  # a Monday
END = START + 28 * sim.DAY_MS


@pytest.fixture(scope="module")
def catalogue():
    return build_catalogue(7, 2000, 3000)


@pytest.fixture(scope="module")
def lines(catalogue):
    rng = np.random.default_rng(11)
    times = sim.rhythm_times_ms(rng, START, END, 40_000)
    return sim.orders_to_lines(rng, catalogue, times, refund_rate=0.05)


def _make(catalogue, seed):
    rng = np.random.default_rng(seed)
    return sim.orders_to_lines(rng, catalogue, sim.rhythm_times_ms(rng, START, END, 500))


def test_deterministic_from_seed(catalogue):
    a, b, c = _make(catalogue, 3), _make(catalogue, 3), _make(catalogue, 4)
    assert set(a) == set(sim.LINE_COLUMNS)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.array_equal(a["event_id"], c["event_id"])


def test_columns_and_types(lines, catalogue):
    n = len(lines["event_id"])
    assert all(len(col) == n for col in lines.values())
    assert lines["event_time"].dtype == np.int64
    assert lines["event_id"].dtype.kind == "U"
    ids = lines["event_id"]
    assert len(np.unique(ids)) == n
    for text in ids[:50]:
        assert uuid.UUID(str(text)).version == 4
    assert set(np.unique(lines["channel"])) <= {c.code for c in CHANNELS}
    assert set(np.unique(lines["payment_method"])) <= set(PAYMENT_METHODS)
    assert set(np.unique(lines["product_id"])) <= set(catalogue.book_id)
    assert (np.diff(lines["event_time"]) >= 0).all()


def test_revenue_recomputes_exactly(lines):
    for i in range(0, len(lines["event_id"]), 97):
        assert lines["revenue_cents"][i] == revenue_cents(
            int(lines["quantity"][i]),
            int(lines["unit_price_cents"][i]),
            int(lines["discount_bp"][i]),
            str(lines["event_type"][i]),
        )


def test_prices_discounts_quantities(lines, catalogue):
    price = dict(zip(catalogue.book_id.tolist(), catalogue.list_price_cents.tolist(), strict=True))
    sample = range(0, len(lines["product_id"]), 101)
    assert all(lines["unit_price_cents"][i] == price[str(lines["product_id"][i])] for i in sample)
    assert 0.7 < (lines["discount_bp"] == 0).mean() < 0.95
    assert set(np.unique(lines["discount_bp"])) <= {0, 500, 1000, 1500, 2000, 2500}
    assert (lines["quantity"] == 1).mean() > 0.7
    assert lines["quantity"].min() >= 1


def test_refunds_mirror_a_sale_later(lines):
    refund = lines["event_type"] == "refund"
    sales = ~refund
    ratio = refund.sum() / sales.sum()
    assert 0.04 < ratio < 0.06
    key = np.char.add(np.char.add(lines["order_id"], "#"), lines["line_no"].astype(str))
    sale_at = dict(zip(key[sales].tolist(), lines["event_time"][sales].tolist(), strict=True))
    for i in np.flatnonzero(refund)[:300]:
        assert lines["event_time"][i] - sale_at[key[i]] >= sim.REFUND_MIN_DELAY_MS
        assert lines["revenue_cents"][i] < 0


def test_orders_have_line_one_and_consecutive_lines(lines):
    sales = lines["event_type"] == "sale"
    orders, line_no = lines["order_id"][sales], lines["line_no"][sales]
    assert set(np.unique(orders)) == set(np.unique(orders[line_no == 1]))
    count = dict(zip(*np.unique(orders, return_counts=True), strict=True))
    top = {}
    for order, no in zip(orders.tolist(), line_no.tolist(), strict=True):
        top[order] = max(top.get(order, 0), no)
    assert all(top[o] == count[o] for o in top)
    assert line_no.min() >= 1 and line_no.max() <= 5
    # An order's lines share customer, region, channel and time.
    first = {}
    for i in np.flatnonzero(sales)[:2000]:
        sig = (lines["customer_id"][i], lines["region"][i], lines["channel"][i], lines["event_time"][i])
        assert first.setdefault(lines["order_id"][i], sig) == sig


def test_customer_region_comes_from_catalogue(lines, catalogue):
    region = dict(zip(catalogue.customer_id.tolist(), catalogue.customer_region.tolist(), strict=True))
    for i in range(0, len(lines["customer_id"]), 53):
        assert lines["region"][i] == region[str(lines["customer_id"][i])]


def test_rhythm_daily_and_weekly():
    rng = np.random.default_rng(5)
    times = sim.rhythm_times_ms(rng, START, END, 200_000)
    assert times.dtype == np.int64 and len(times) == 200_000
    assert times.min() >= START and times.max() < END
    assert (np.diff(times) >= 0).all()
    hour = (times // sim.HOUR_MS) % 24
    evening = np.isin(hour, [18, 19, 20, 21]).sum()
    night = np.isin(hour, [1, 2, 3, 4]).sum()
    assert evening > 4 * night
    weekday = (times // sim.DAY_MS + 3) % 7
    assert (weekday >= 5).sum() / 2 > (weekday < 5).sum() / 5 * 1.1


def test_rhythm_edges():
    rng = np.random.default_rng(1)
    assert len(sim.rhythm_times_ms(rng, START, END, 0)) == 0
    partial = sim.rhythm_times_ms(rng, START + 123, START + 5000, 100)
    assert partial.min() >= START + 123 and partial.max() < START + 5000
    with pytest.raises(ValueError):
        sim.rhythm_times_ms(rng, END, START, 5)


def test_lines_to_table(lines):
    table = sim.lines_to_table(lines, "generator", "generator/7/0", 1_700_000_000_000)
    assert table.schema == RAW_SALES_SCHEMA
    assert table.num_rows == len(lines["event_id"])
    row = table.slice(1, 1).to_pylist()[0]
    assert row["origin"] == "generator/7/0/1"
    assert row["source"] == "generator"
    assert row["event_id"] == str(lines["event_id"][1])
    assert row["event_date"] == row["event_time"].date()
    # The bytes fast path gives the same table.
    rng = np.random.default_rng(2)
    times = sim.rhythm_times_ms(rng, START, END, 50)
    raw = sim.build_lines(rng, sim_catalogue := build_catalogue(7, 2000, 3000), times, np.ones(50, int))
    as_text = {k: v.astype("U") if v.dtype.kind == "S" else v for k, v in raw.items()}
    assert sim.lines_to_table(raw, "s", "o", 0).equals(sim.lines_to_table(as_text, "s", "o", 0))
    assert sim_catalogue.n_books == 2000


def test_text_to_arrow_strips_padding_and_keeps_unicode():
    assert sim.text_to_arrow(np.array([b"ab", b"c", b""])).to_pylist() == ["ab", "c", ""]
    assert sim.text_to_arrow(np.array(["Zoë", "x"])).to_pylist() == ["Zoë", "x"]
    assert sim.text_to_arrow(np.array(["ab", "cd"])).type == pa.string()
