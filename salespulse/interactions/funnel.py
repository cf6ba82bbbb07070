"""The funnel's counting rules, shared by the speed layer, the batch layer and the tests.

A funnel day counts interactions by **event time** (UTC date): ``views``
(product_view), ``carts`` (add_to_cart), ``removes`` (remove_from_cart) and
``checkouts`` (checkout_started), in total, per genre of the product and per
channel.  Purchases are not counted here: they are the sales layers' orders
(speed views and warehouse aggregates), so the funnel never disagrees with
the sales numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from salespulse.interactions.contract import (
    ADD_TO_CART,
    CHECKOUT_STARTED,
    PRODUCT_VIEW,
    REMOVE_FROM_CART,
    Interaction,
)
from salespulse.reference import UNKNOWN

#: kind -> funnel measure, in funnel order.
MEASURE_OF_KIND = {
    PRODUCT_VIEW: "views",
    ADD_TO_CART: "carts",
    REMOVE_FROM_CART: "removes",
    CHECKOUT_STARTED: "checkouts",
}
MEASURES = tuple(MEASURE_OF_KIND.values())
#: Stages shown as the funnel (removes are a leak, not a stage).
STAGES = ("views", "carts", "checkouts", "purchases")
DIMENSIONS = ("genre", "channel")

Counts = dict[str, int]


@dataclass
class FunnelDeltas:
    """Per-day counts of a batch of interactions: totals, per genre, per channel."""

    totals: dict[str, Counts] = field(default_factory=dict)  # day -> measure -> n
    genre: dict[str, dict[str, Counts]] = field(default_factory=dict)  # day -> genre -> measure -> n
    channel: dict[str, dict[str, Counts]] = field(default_factory=dict)
    events: int = 0

    def by(self, dimension: str) -> dict[str, dict[str, Counts]]:
        return self.genre if dimension == "genre" else self.channel


def _bump(counts: Counts, measure: str) -> None:
    counts[measure] = counts.get(measure, 0) + 1


def count(interactions: Iterable[Interaction], genre_of: Mapping[str, str]) -> FunnelDeltas:
    """Count interactions per UTC day of their event time (unknown books fall in genre ``unknown``)."""
    out = FunnelDeltas()
    for i in interactions:
        day = i.event_date.isoformat()
        measure = MEASURE_OF_KIND[i.kind]
        _bump(out.totals.setdefault(day, {}), measure)
        _bump(out.genre.setdefault(day, {}).setdefault(genre_of.get(i.product_id, UNKNOWN), {}), measure)
        _bump(out.channel.setdefault(day, {}).setdefault(i.channel, {}), measure)
        out.events += 1
    return out


def rate_pct(part: int | None, whole: int | None) -> float | None:
    """``part / whole`` in percent, 2 places; ``None`` when there is no base."""
    if not whole or part is None:
        return None
    return round(100.0 * part / whole, 2)


def stages(counts: Mapping[str, int | None]) -> list[dict[str, object]]:
    """The funnel as stages: each with its count, % of views and % of the stage before."""
    out: list[dict[str, object]] = []
    previous: int | None = None
    views = counts.get("views")
    for name in STAGES:
        n = counts.get(name)
        out.append(
            {
                "stage": name,
                "count": n,
                "pct_of_views": rate_pct(n, views),
                "pct_of_previous": rate_pct(n, previous) if previous is not None else None,
            }
        )
        previous = n
    return out


def rates(counts: Mapping[str, int | None]) -> dict[str, float | None]:
    """The conversion rates a dashboard shows (percent)."""
    return {
        "view_to_cart_pct": rate_pct(counts.get("carts"), counts.get("views")),
        "cart_to_checkout_pct": rate_pct(counts.get("checkouts"), counts.get("carts")),
        "checkout_to_purchase_pct": rate_pct(counts.get("purchases"), counts.get("checkouts")),
        "view_to_purchase_pct": rate_pct(counts.get("purchases"), counts.get("views")),
        "cart_removal_pct": rate_pct(counts.get("removes"), counts.get("carts")),
    }
