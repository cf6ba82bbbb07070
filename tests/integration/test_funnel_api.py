"""GET /api/analytics/funnel/: batch part before the watermark + speed part after, equal to an
independent count over the same interactions and sale events."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from salespulse.interactions import batch, sinks
from salespulse.interactions.contract import KINDS, Interaction
from salespulse.interactions.funnel import MEASURE_OF_KIND, count
from salespulse.reference import CHANNELS, REGIONS


def _interactions(books: list[str], start: date, end: date) -> list[Interaction]:
    rng = random.Random(99)
    out = []
    day = start
    while day <= end:
        base = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
        for _ in range(rng.randint(20, 60)):
            kind = rng.choices(KINDS, weights=[60, 20, 6, 8])[0]
            out.append(
                Interaction(
                    str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    kind,
                    base + rng.randrange(86_400_000),
                    f"s{rng.randrange(50)}",
                    None,
                    rng.choice(books),
                    rng.choice([c.code for c in CHANNELS]),
                    rng.choice([r.code for r in REGIONS]),
                )
            )
        day += timedelta(days=1)
    return out


@pytest.fixture(scope="module")
def funnel_data(dataset: Any, catalogue: Any, tmp_path_factory: pytest.TempPathFactory, stack: Any) -> Any:
    """Interactions for W-5 .. today: the days before W through the lake and the batch load,
    the days from W through the Redis sink (the writers the real pipeline uses)."""
    from api import speed

    start = dataset.watermark - timedelta(days=5)
    items = _interactions(catalogue.book_id[:24].tolist(), start, dataset.today)
    before = [i for i in items if i.event_date < dataset.watermark]
    after = [i for i in items if i.event_date >= dataset.watermark]
    raw = Path(tmp_path_factory.mktemp("interactions"))
    table = sinks.to_table(before, [f"t/0/{n}" for n in range(len(before))], 0)
    sinks.write_chunk(table, raw, "t-p0-o0-1-i00000000.parquet")
    sinks.write_chunk(table, raw, "t-p0-o0-1-i11111111.parquet")  # a duplicate the load must drop
    rows = batch.compute(raw, catalogue)
    conn = psycopg2.connect(stack.database_url)
    batch.load(conn, rows, start, dataset.watermark - timedelta(days=1))
    conn.close()
    r, names = speed.client(), speed.names()
    for key in r.scan_iter(names.key("day", "*", "funnel*")):
        r.delete(key)
    r.set(names.key("funnel", "batch", "latest"), uuid.uuid4().hex)
    sink = sinks.FunnelRedisSink(r, names)
    assert sink.apply(count(after, catalogue.genre_of()), "t", [], 0, "now") == []
    return {"items": items, "start": start}


def _expected(ds: Any, items: list[Interaction], genre_of: dict[str, str], start: date, end: date,
              by: str) -> dict[str, Counter[str]]:  # fmt: skip
    out: dict[str, Counter[str]] = {}
    for i in items:
        if start <= i.event_date <= end:
            member = "total" if by == "total" else genre_of[i.product_id] if by == "genre" else i.channel
            out.setdefault(member, Counter())[MEASURE_OF_KIND[i.kind]] += 1
    for e in ds.events:
        if start <= e.event_date <= end and e.event_type == "sale" and e.line_no == 1:
            member = "total" if by == "total" else genre_of[e.product_id] if by == "genre" else e.channel
            out.setdefault(member, Counter())["purchases"] += 1
    return out


def _counts(row: dict[str, Any]) -> Counter[str]:
    return Counter({k: row[k] for k in ("views", "carts", "removes", "checkouts", "purchases") if row[k]})


@pytest.mark.parametrize("by", ["total", "genre", "channel"])
def test_funnel_api_equals_an_independent_count(
    analyst_client: Any, dataset: Any, funnel_data: Any, genre_of: dict[str, str], by: str
) -> None:
    start, end = funnel_data["start"], dataset.today
    resp = analyst_client.get(
        "/api/analytics/funnel/", {"start": start.isoformat(), "end": end.isoformat(), "by": by}
    )
    assert resp.status_code == 200, resp.content
    body = resp.json()
    expected = _expected(dataset, funnel_data["items"], genre_of, start, end, by)
    if by == "total":
        assert {"total": _counts(body["totals"])} == expected
    else:
        got = {r[by]: _counts(r) for r in body["results"] if any(_counts(r).values())}
        assert got == expected
    total = sum(expected.values(), Counter())
    assert _counts(body["totals"]) == total
    views, purchases = total["views"], total["purchases"]
    assert body["totals"]["rates"]["view_to_purchase_pct"] == round(100 * purchases / views, 2)
    assert [s["stage"] for s in body["stages"]] == ["views", "carts", "checkouts", "purchases"]
    assert body["stages"][3]["pct_of_views"] == round(100 * purchases / views, 2)
    assert body["sources"]["watermark"] == dataset.watermark.isoformat()
    assert body["sources"]["batch"]["end"] == (dataset.watermark - timedelta(days=1)).isoformat()


def test_funnel_api_rejects_bad_parameters(analyst_client: Any) -> None:
    resp = analyst_client.get("/api/analytics/funnel/", {"by": "region"})
    assert resp.status_code == 400
    assert resp.json()["param"] == "by"


def test_days_without_interactions_add_no_purchases(
    analyst_client: Any, dataset: Any, funnel_data: Any, genre_of: dict[str, str]
) -> None:
    """History with sales but no interaction data (generated or imported) stays out of the funnel."""
    start, end = funnel_data["start"], dataset.today
    earlier = start - timedelta(days=10)
    assert any(earlier <= e.event_date < start and e.event_type == "sale" for e in dataset.events)
    resp = analyst_client.get(
        "/api/analytics/funnel/", {"start": earlier.isoformat(), "end": end.isoformat()}
    )
    assert resp.status_code == 200, resp.content
    expected = _expected(dataset, funnel_data["items"], genre_of, start, end, "total")
    assert _counts(resp.json()["totals"]) == expected["total"]
