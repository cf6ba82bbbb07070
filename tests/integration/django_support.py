"""Django under pytest without pytest-django, and the serving layer's test data.

* :func:`django_ready` points Django at the ``stack`` fixture's per-run
  database and Redis prefix (``config.settings.test``), sets it up and
  applies the migrations into that database.
* :func:`make_events` builds a small deterministic set of sale events around
  a watermark, and :func:`load_layers` puts the part before the watermark into
  the warehouse and the rest into the speed views (``api.testdata``).
* ``expected_*`` compute every endpoint's answer from the same events in plain
  Python, independently of the SQL, the Redis reader and the merge code they
  check.
"""

from __future__ import annotations

import os
import random
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from salespulse.events import SaleEvent
from salespulse.reference import CHANNELS, REGIONS, Catalogue

DJANGO_DIR = Path(__file__).resolve().parents[2] / "django_app"  # on pytest's pythonpath

_READY = False


def django_ready() -> None:
    """Set Django up once per process against the current (per-run) environment."""
    global _READY
    if _READY:
        return
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    _READY = True


# -- events -------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    events: list[SaleEvent]
    watermark: date
    today: date
    run_id: str


def _event(
    rng: random.Random, day: date, order: int, line: int, book: str, customer: str, **kw: Any
) -> SaleEvent:
    ms = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
    ms += kw.pop("offset_ms", rng.randrange(0, 86_400_000))
    return SaleEvent(
        event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        event_type=kw.pop("event_type", "sale"),
        event_time_ms=ms,
        order_id=f"O{order:07d}",
        line_no=line,
        customer_id=customer,
        product_id=book,
        quantity=kw.pop("quantity", rng.randint(1, 4)),
        unit_price_cents=kw.pop("price", rng.choice([499, 999, 1299, 1799, 2499, 4599])),
        discount_bp=kw.pop("discount", rng.choice([0, 0, 0, 500, 1000, 2500])),
        currency="USD",
        channel=kw.pop("channel", rng.choice([c.code for c in CHANNELS])),
        region=kw.pop("region", rng.choice([r.code for r in REGIONS])),
        payment_method="card",
    )


def make_events(
    catalogue: Catalogue, today: date, *, seed: int = 7, history_days: int = 80, speed_days: int = 3
) -> Dataset:
    """Orders over ``history_days`` before the watermark and ``speed_days`` from it (today included).

    Few books and customers, so rankings have real competition; refunds,
    multi-line orders and one book that sells mostly after the watermark
    (so the top list across the watermark differs from either part's).
    """
    rng = random.Random(seed)
    watermark = today - timedelta(days=speed_days - 1)
    books = catalogue.book_id[:24].tolist()
    customers = catalogue.customer_id[:30].tolist()
    events: list[SaleEvent] = []
    order = 0
    day = watermark - timedelta(days=history_days)
    while day <= today:
        for _ in range(rng.randint(2, 6)):
            order += 1
            customer = rng.choice(customers)
            lines = rng.choice([1, 1, 2, 3])
            for line in range(1, lines + 1):
                events.append(_event(rng, day, order, line, rng.choice(books[:20]), customer))
        if rng.random() < 0.25 and events:
            sold = rng.choice(events[-5:])
            events.append(
                _event(
                    rng,
                    day,
                    int(sold.order_id[1:]),
                    sold.line_no,
                    sold.product_id,
                    sold.customer_id,
                    event_type="refund",
                    quantity=sold.quantity,
                    price=sold.unit_price_cents,
                    discount=sold.discount_bp,
                    channel=sold.channel,
                    region=sold.region,
                )
            )
        if day >= watermark:  # the speed-layer hit: a book nobody bought before
            order += 1
            events.append(
                _event(rng, day, order, 1, books[23], customers[0], quantity=40, price=4599, discount=0)
            )
        day += timedelta(days=1)
    return Dataset(events, watermark, today, f"run-{seed}-{watermark.isoformat()}")


def load_layers(ds: Dataset, catalogue: Catalogue) -> None:
    """Warehouse gets days < W, speed views days >= W; markers as a publish sets them."""
    from api import speed, testdata

    testdata.warehouse_load(ds.events, ds.watermark, catalogue, run_id=ds.run_id)
    r = speed.client()
    testdata.speed_clear(r)
    testdata.speed_apply(r, [e for e in ds.events if e.event_date >= ds.watermark], catalogue)
    testdata.markers_set(r, ds.watermark, ds.run_id)


# -- expected answers, from the events alone ---------------------------------------------


def _in(events: Iterable[SaleEvent], start: date, end: date) -> list[SaleEvent]:
    return [e for e in events if start <= e.event_date <= end]


def _member(e: SaleEvent, dimension: str, genre_of: dict[str, str]) -> str:
    if dimension == "region":
        return e.region
    if dimension == "channel":
        return e.channel
    return genre_of.get(e.product_id, "unknown")


def totals(events: Iterable[SaleEvent]) -> dict[str, int]:
    out = {"revenue_cents": 0, "orders": 0, "units": 0, "events": 0, "refunds": 0}
    for e in events:
        out["revenue_cents"] += e.revenue_cents
        out["orders"] += int(e.line_no == 1 and e.event_type == "sale")
        out["units"] += -e.quantity if e.event_type == "refund" else e.quantity
        out["events"] += 1
        out["refunds"] += int(e.event_type == "refund")
    return out


def expected_summary(
    events: Sequence[SaleEvent],
    start: date,
    end: date,
    genre_of: dict[str, str],
    flt: tuple[str, str] | None = None,
) -> dict[str, Any]:
    chosen = _in(events, start, end)
    if flt is not None:
        chosen = [e for e in chosen if _member(e, flt[0], genre_of) == flt[1]]
    out: dict[str, Any] = totals(chosen)
    if flt is not None:
        out["refunds"] = None
    rev, orders = out["revenue_cents"], out["orders"]
    out["average_order_value_cents"] = (
        int((Decimal(rev) / Decimal(orders)).quantize(Decimal(1), ROUND_HALF_UP)) if orders else 0
    )
    return out


def period_of(day: date, interval: str) -> date:
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return date(day.year, day.month, 1)
    return day


def expected_series(
    events: Sequence[SaleEvent],
    start: date,
    end: date,
    interval: str,
    genre_of: dict[str, str],
    flt: tuple[str, str] | None = None,
) -> list[dict[str, Any]]:
    periods: list[date] = []
    day = start
    while day <= end:
        p = period_of(day, interval)
        if p not in periods:
            periods.append(p)
        day += timedelta(days=1)
    out = []
    for p in periods:
        chosen = [e for e in _in(events, start, end) if period_of(e.event_date, interval) == p]
        if flt is not None:
            chosen = [e for e in chosen if _member(e, flt[0], genre_of) == flt[1]]
        t: dict[str, Any] = totals(chosen)
        if flt is not None:
            t["refunds"] = None
        out.append({"period": p.isoformat(), **t})
    return out


def expected_members(
    events: Sequence[SaleEvent], start: date, end: date, dimension: str, genre_of: dict[str, str]
) -> dict[str, dict[str, int]]:
    groups: dict[str, list[SaleEvent]] = defaultdict(list)
    for e in _in(events, start, end):
        groups[_member(e, dimension, genre_of)].append(e)
    out = {}
    for member, evs in groups.items():
        t = totals(evs)
        del t["refunds"]
        out[member] = t
    return out


def expected_top(
    events: Sequence[SaleEvent],
    start: date,
    end: date,
    kind: str,
    by: str,
    limit: int,
    genre_of: dict[str, str],
    genre: str | None = None,
) -> list[tuple[str, int, int]]:
    """``[(id, revenue_cents, units)]`` best first, ties by id."""
    acc: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for e in _in(events, start, end):
        if genre is not None and genre_of.get(e.product_id) != genre:
            continue
        key = e.product_id if kind == "book" else e.customer_id
        acc[key][0] += e.revenue_cents
        acc[key][1] += -e.quantity if e.event_type == "refund" else e.quantity
    measure = 0 if by == "revenue" else 1
    ranked = sorted(acc.items(), key=lambda kv: (-kv[1][measure], kv[0]))
    return [(k, v[0], v[1]) for k, v in ranked[:limit]]
