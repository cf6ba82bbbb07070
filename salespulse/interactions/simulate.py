"""Shopper interactions behind simulated sales: the sessions that bought, and the many that did not.

A sale never comes out of nowhere: the shopper looked at the book, put it in
the cart and started the checkout.  Given the sale lines a simulation produced
(:func:`salespulse.simulation.orders_to_lines`), this module makes

* one buying session per order: a view and an ``add_to_cart`` of every bought
  line, views of a few other books (some carted, some of those removed again),
  then one ``checkout_started`` carrying the order id a few seconds to two
  minutes before the order's ``event_time``;
* abandoned sessions (about :data:`ABANDONED_PER_ORDER` per order, more on the
  marketplace and the app, hardly any in the store or on the phone): views,
  some carts and removes, now and then a checkout that never becomes an order.

Books browsed without buying are drawn by popularity times a per-genre
browse factor, so conversion differs by genre as well as by channel; overall
about 3-4% of product views end in an order.  Everything is column-wise NumPy
driven by the caller's generator (same generator state, same interactions);
only the final JSON encoding is per event.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson

from salespulse.interactions.contract import (
    ADD_TO_CART,
    CHECKOUT_STARTED,
    KINDS,
    PRODUCT_VIEW,
    REMOVE_FROM_CART,
    SCHEMA,
    Interaction,
)
from salespulse.reference import CHANNELS, REGIONS, Catalogue
from salespulse.simulation import random_uuids, rhythm_times_ms

#: Mean extra (not bought) books viewed in a buying session.
EXTRA_VIEWS_MEAN = 3.0
#: Abandoned sessions per order, before the channel factors below.
ABANDONED_PER_ORDER = 7.5
#: How much more (or less) shoppers on a channel browse without buying.
CHANNEL_ABANDON_FACTOR = {
    "web": 1.0,
    "mobile_app": 1.3,
    "marketplace": 1.6,
    "retail_store": 0.25,
    "phone": 0.1,
}
#: Views per abandoned session: 1 + Poisson(mean).
ABANDONED_EXTRA_VIEWS_MEAN = 2.2
#: P(a browsed, not bought, book is put in the cart), P(a carted one is removed again).
CART_P = 0.2
REMOVE_P = 0.45
#: P(an abandoned session with a cart starts a checkout it never finishes).
ABANDONED_CHECKOUT_P = 0.3
#: Share of abandoned sessions by anonymous (not signed-in) shoppers.
ANONYMOUS_P = 0.45
#: Relative browsing per genre: high = much looked at, less often bought.
GENRE_BROWSE_FACTOR = {
    "Fiction": 1.1,
    "Mystery & Thriller": 0.9,
    "Romance": 0.8,
    "Science Fiction": 1.2,
    "Fantasy": 1.2,
    "Biography": 1.0,
    "History": 1.2,
    "Science": 1.4,
    "Business": 1.3,
    "Self-Help": 1.0,
    "Children's": 0.7,
    "Young Adult": 0.9,
    "Cooking": 1.6,
    "Travel": 1.7,
    "Poetry": 1.3,
    "Computing": 1.5,
}
#: A buying session lasts 30 s plus an exponential with this mean; abandoned ones likewise.
SESSION_MIN_MS = 30_000
SESSION_MEAN_MS = 6 * 60_000
#: The checkout starts this long before the order (uniform).
CHECKOUT_LEAD_MS = (5_000, 120_000)

_KIND_RANK = {k: i for i, k in enumerate(KINDS)}
COLUMNS = (
    "interaction_id",
    "kind",
    "event_time",
    "session_id",
    "customer_id",
    "product_id",
    "channel",
    "region",
    "order_id",
)


@dataclass(frozen=True)
class _Browse:
    """Sampling tables for books browsed without buying (per catalogue)."""

    book_id: np.ndarray
    cdf: np.ndarray


_BROWSE: dict[int, tuple[Catalogue, _Browse]] = {}


def _browse(catalogue: Catalogue) -> _Browse:
    hit = _BROWSE.get(id(catalogue))
    if hit is not None and hit[0] is catalogue:
        return hit[1]
    factor = np.array([GENRE_BROWSE_FACTOR.get(g, 1.0) for g in catalogue.genre.tolist()])
    prepared = _Browse(catalogue.book_id.astype("U"), np.cumsum(catalogue.popularity * factor))
    if len(_BROWSE) >= 4:
        _BROWSE.clear()
    _BROWSE[id(catalogue)] = (catalogue, prepared)
    return prepared


def _sample(rng: np.random.Generator, cdf: np.ndarray, n: int) -> np.ndarray:
    idx = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
    return np.minimum(idx, len(cdf) - 1)


class _Rows:
    """Column lists of interactions under construction (arrays appended per step)."""

    def __init__(self) -> None:
        self.parts: dict[str, list[np.ndarray]] = {c: [] for c in COLUMNS}

    def add(self, **cols: np.ndarray) -> None:
        n = len(cols["event_time"])
        for name in COLUMNS:
            value = cols.get(name)
            self.parts[name].append(
                np.full(n, None, dtype=object) if value is None else np.asarray(value, object)
            )

    def columns(self) -> dict[str, np.ndarray]:
        out = {}
        for name, parts in self.parts.items():
            out[name] = np.concatenate(parts) if parts else np.empty(0, dtype=object)
        out["event_time"] = out["event_time"].astype(np.int64)
        return out


def _items_in_session(
    rng: np.random.Generator, start: np.ndarray, end: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """View, cart and remove times of items in sessions ``[start, end)``: view <= cart <= remove < end."""
    span = np.maximum(end - start, 1)
    view = start + (rng.random(len(start)) * span).astype(np.int64)
    cart = view + (rng.random(len(start)) * (end - view)).astype(np.int64)
    remove = cart + (rng.random(len(start)) * (end - cart)).astype(np.int64)
    return view, cart, remove


def _browsing(
    rng: np.random.Generator,
    rows: _Rows,
    browse: _Browse,
    session_of_item: np.ndarray,
    sessions: dict[str, np.ndarray],
    end: np.ndarray,
) -> np.ndarray:
    """Views of books not bought, some carted and removed; returns which items stay in the cart."""
    k = len(session_of_item)
    s = session_of_item
    book = browse.book_id[_sample(rng, browse.cdf, k)]
    view, cart, remove = _items_in_session(rng, sessions["start"][s], end[s])
    carted = rng.random(k) < CART_P
    removed = carted & (rng.random(k) < REMOVE_P)
    common = {name: sessions[name][s] for name in ("session_id", "customer_id", "channel", "region")}
    rows.add(kind=np.full(k, PRODUCT_VIEW), event_time=view, product_id=book, **common)
    rows.add(
        kind=np.full(int(carted.sum()), ADD_TO_CART),
        event_time=cart[carted],
        product_id=book[carted],
        **{n: v[carted] for n, v in common.items()},
    )
    rows.add(
        kind=np.full(int(removed.sum()), REMOVE_FROM_CART),
        event_time=remove[removed],
        product_id=book[removed],
        **{n: v[removed] for n, v in common.items()},
    )
    return np.where(carted & ~removed, book, None)


def simulate_interactions(
    rng: np.random.Generator, catalogue: Catalogue, lines: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The interactions behind ``lines`` plus abandoned sessions, as columns sorted by time.

    Refund lines are ignored (no shopper journey leads to a refund).  Rows are
    ordered by ``event_time``, ties in funnel order (view, cart, remove,
    checkout).  ``customer_id`` and ``order_id`` hold ``None`` where absent.
    """
    browse = _browse(catalogue)
    rows = _Rows()
    event_type = np.asarray(lines.get("event_type", np.empty(0)), dtype="U")
    sale = event_type == "sale"
    if sale.any():
        wanted = ("order_id", "event_time", "line_no", "customer_id", "product_id", "channel", "region")
        col = {name: np.asarray(lines[name])[sale] for name in wanted}
        col = {n: v.astype("U") if v.dtype.kind in "SUO" else v for n, v in col.items()}
        orders, first, owner = np.unique(col["order_id"], return_index=True, return_inverse=True)
        n_orders = len(orders)
        order_time = col["event_time"].astype(np.int64)[first]
        lead = rng.integers(CHECKOUT_LEAD_MS[0], CHECKOUT_LEAD_MS[1], n_orders)
        checkout = order_time - lead
        start = checkout - SESSION_MIN_MS - rng.exponential(SESSION_MEAN_MS, n_orders).astype(np.int64)
        sessions = {
            "session_id": random_uuids(rng, n_orders).astype("U"),
            "customer_id": col["customer_id"][first],
            "channel": col["channel"][first],
            "region": col["region"][first],
            "start": start,
        }
        # Bought lines: a view, then the cart, before the checkout.
        view, cart, _ = _items_in_session(rng, start[owner], checkout[owner])
        bought = {n: sessions[n][owner] for n in ("session_id", "customer_id", "channel", "region")}
        rows.add(
            kind=np.full(len(owner), PRODUCT_VIEW), event_time=view, product_id=col["product_id"], **bought
        )
        rows.add(
            kind=np.full(len(owner), ADD_TO_CART), event_time=cart, product_id=col["product_id"], **bought
        )
        # Books looked at on the way.
        extra = rng.poisson(EXTRA_VIEWS_MEAN, n_orders)
        _browsing(rng, rows, browse, np.repeat(np.arange(n_orders), extra), sessions, checkout)
        # The checkout, on the order's first line (the book the sales views file the order under).
        line1 = np.full(n_orders, "", dtype=object)
        is_first = col["line_no"] == 1
        line1[owner[is_first]] = col["product_id"][is_first]
        missing = line1 == ""
        line1[missing] = col["product_id"][first][missing]  # an order whose line 1 is not in this batch
        rows.add(
            kind=np.full(n_orders, CHECKOUT_STARTED),
            event_time=checkout,
            product_id=line1,
            order_id=orders,
            **{n: sessions[n] for n in ("session_id", "customer_id", "channel", "region")},
        )
        _abandoned(rng, catalogue, browse, rows, order_time, col["channel"][first])
    out = rows.columns()
    if len(out["event_time"]):
        rank = np.zeros(len(out["kind"]), dtype=np.int8)
        for kind, i in _KIND_RANK.items():
            rank[out["kind"] == kind] = i
        order = np.lexsort((rank, out["event_time"]))
        out = {name: values[order] for name, values in out.items()}
    out["interaction_id"] = random_uuids(rng, len(out["event_time"])).astype("U").astype(object)
    return out


def _abandoned(
    rng: np.random.Generator,
    catalogue: Catalogue,
    browse: _Browse,
    rows: _Rows,
    order_time: np.ndarray,
    order_channel: np.ndarray,
) -> None:
    """Sessions that never buy, over the window of the orders, by the shop's daily rhythm."""
    codes = [c.code for c in CHANNELS]
    per_channel = np.array([(order_channel == c).sum() for c in codes], dtype=np.float64)
    factors = np.array([CHANNEL_ABANDON_FACTOR.get(c, 1.0) for c in codes])
    n = int(rng.poisson(ABANDONED_PER_ORDER * float((per_channel * factors).sum())))
    if n == 0:
        return
    lo, hi = int(order_time.min()), int(order_time.max()) + 1
    start = rhythm_times_ms(rng, lo, hi, n)
    channel_w = np.array([c.weight for c in CHANNELS]) * factors
    channel = np.array(codes, dtype=object)[_sample(rng, np.cumsum(channel_w), n)]
    customer_idx = _sample(rng, np.cumsum(catalogue.customer_activity), n)
    anonymous = rng.random(n) < ANONYMOUS_P
    customer = np.where(anonymous, None, catalogue.customer_id[customer_idx])
    region_codes = np.array([r.code for r in REGIONS], dtype=object)
    region = np.where(
        anonymous,
        region_codes[_sample(rng, np.cumsum([r.weight for r in REGIONS]), n)],
        catalogue.customer_region[customer_idx],
    )
    end = start + SESSION_MIN_MS + rng.exponential(SESSION_MEAN_MS, n).astype(np.int64)
    sessions = {
        "session_id": random_uuids(rng, n).astype("U"),
        "customer_id": customer,
        "channel": channel,
        "region": region,
        "start": start,
    }
    views = 1 + rng.poisson(ABANDONED_EXTRA_VIEWS_MEAN, n)
    owner = np.repeat(np.arange(n), views)
    in_cart = _browsing(rng, rows, browse, owner, sessions, end)
    # A checkout started but never finished: on the first book still in the cart.
    has_cart = in_cart != None  # noqa: E711 (element-wise)
    first_cart = np.full(n, None, dtype=object)
    idx = np.flatnonzero(has_cart)[::-1]  # reversed so the first item of a session wins the write
    first_cart[owner[idx]] = in_cart[idx]
    go = (first_cart != None) & (rng.random(n) < ABANDONED_CHECKOUT_P)  # noqa: E711
    rows.add(
        kind=np.full(int(go.sum()), CHECKOUT_STARTED),
        event_time=end[go],
        product_id=first_cart[go],
        **{name: sessions[name][go] for name in ("session_id", "customer_id", "channel", "region")},
    )


def to_interactions(columns: dict[str, np.ndarray]) -> list[Interaction]:
    """Columns from :func:`simulate_interactions` -> contract objects."""
    cols = [columns[c].tolist() for c in COLUMNS]
    return [
        Interaction(
            interaction_id=iid,
            kind=kind,
            event_time_ms=int(t),
            session_id=sid,
            customer_id=cust,
            product_id=prod,
            channel=ch,
            region=reg,
            order_id=oid,
        )
        for iid, kind, t, sid, cust, prod, ch, reg, oid in zip(*cols, strict=True)
    ]


def event_time_texts(times_ms: np.ndarray) -> list[str]:
    """Epoch ms -> ``2026-11-25T15:35:45.123Z`` for many times at once (same text as the contract)."""
    text = np.datetime_as_string(np.asarray(times_ms, dtype=np.int64).astype("datetime64[ms]"), unit="ms")
    return np.char.add(text, "Z").tolist()


def encode_columns(columns: dict[str, np.ndarray]) -> list[bytes]:
    """Columns -> ``interaction.v1`` messages without building objects (the producer's hot path).

    Same bytes as :func:`salespulse.interactions.contract.encode` (a unit test holds them equal).
    """
    times = event_time_texts(columns["event_time"])
    cols = [columns[c].tolist() for c in COLUMNS]
    cols[2] = times
    dumps = orjson.dumps
    return [
        dumps(
            {
                "schema": SCHEMA,
                "interaction_id": iid,
                "kind": kind,
                "event_time": t,
                "session_id": sid,
                "customer_id": cust,
                "product_id": prod,
                "channel": ch,
                "region": reg,
                "order_id": oid,
            }
        )
        for iid, kind, t, sid, cust, prod, ch, reg, oid in zip(*cols, strict=True)
    ]


def interactions_for_lines(
    rng: np.random.Generator, catalogue: Catalogue, lines: dict[str, np.ndarray]
) -> list[bytes]:
    """The producer's hook: encoded ``interaction.v1`` messages behind ``lines``, oldest first.

    Pass a generator of its own (not the one drawing the sales) if the sales
    must stay the same with and without interactions.
    """
    return encode_columns(simulate_interactions(rng, catalogue, lines))
