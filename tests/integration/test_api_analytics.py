"""Every analytics endpoint equals an independent computation over the same events.

Ranges entirely before the watermark (warehouse only), across it (both
parts, never a day twice) and from it on (speed views only).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django_support import (
    Dataset,
    expected_members,
    expected_series,
    expected_summary,
    expected_top,
)

from salespulse.reference import CHANNELS, GENRES, REGIONS


def ranges(ds: Dataset) -> dict[str, tuple[date, date]]:
    w = ds.watermark
    return {
        "before": (w - timedelta(days=70), w - timedelta(days=1)),
        "across": (w - timedelta(days=45), ds.today),
        "after": (w, ds.today),
        "edge": (w - timedelta(days=1), w),
    }


RANGES = ("before", "across", "after", "edge")


def get(client: Any, path: str, **params: Any) -> dict[str, Any]:
    resp = client.get(f"/api/analytics/{path}/", params)
    assert resp.status_code == 200, resp.content
    return resp.json()


def rng_params(ds: Dataset, which: str) -> dict[str, str]:
    start, end = ranges(ds)[which]
    return {"start": start.isoformat(), "end": end.isoformat()}


@pytest.mark.parametrize("which", RANGES)
def test_summary(analyst_client: Any, dataset: Dataset, genre_of: dict[str, str], which: str) -> None:
    start, end = ranges(dataset)[which]
    body = get(analyst_client, "summary", **rng_params(dataset, which))
    assert body["totals"] == expected_summary(dataset.events, start, end, genre_of)
    src = body["sources"]
    assert src["watermark"] == dataset.watermark.isoformat()
    batch_part = expected_summary(
        dataset.events, start, min(end, dataset.watermark - timedelta(days=1)), genre_of
    )
    speed_part = expected_summary(dataset.events, max(start, dataset.watermark), end, genre_of)
    if which == "after":
        assert src["batch"] is None
    else:
        assert src["batch"]["revenue_cents"] == batch_part["revenue_cents"]
        assert src["batch"]["run_id"] == dataset.run_id
        assert src["batch"]["end"] == min(end, dataset.watermark - timedelta(days=1)).isoformat()
    if which == "before":
        assert src["speed"] is None
    else:
        assert src["speed"]["revenue_cents"] == speed_part["revenue_cents"]
        assert src["speed"]["start"] == max(start, dataset.watermark).isoformat()
    if src["batch"] and src["speed"]:
        assert (
            src["batch"]["revenue_cents"] + src["speed"]["revenue_cents"] == body["totals"]["revenue_cents"]
        )


@pytest.mark.parametrize(
    "flt", [("region", REGIONS[0].code), ("genre", next(iter(GENRES))), ("channel", CHANNELS[1].code)]
)
def test_summary_filtered(
    analyst_client: Any, dataset: Dataset, genre_of: dict[str, str], flt: tuple[str, str]
) -> None:
    start, end = ranges(dataset)["across"]
    body = get(analyst_client, "summary", **rng_params(dataset, "across"), **{flt[0]: flt[1]})
    assert body["totals"] == expected_summary(dataset.events, start, end, genre_of, flt)
    assert body["filters"] == {flt[0]: flt[1]}


def test_summary_default_days(analyst_client: Any, dataset: Dataset, genre_of: dict[str, str]) -> None:
    body = get(analyst_client, "summary")
    start = dataset.today - timedelta(days=29)
    assert body["range"] == {"start": start.isoformat(), "end": dataset.today.isoformat(), "days": 30}
    assert body["totals"] == expected_summary(dataset.events, start, dataset.today, genre_of)
    body7 = get(analyst_client, "summary", days=7)
    assert body7["totals"] == expected_summary(
        dataset.events, dataset.today - timedelta(days=6), dataset.today, genre_of
    )


@pytest.mark.parametrize("interval", ["day", "week", "month"])
@pytest.mark.parametrize("which", RANGES)
def test_timeseries(
    analyst_client: Any, dataset: Dataset, genre_of: dict[str, str], which: str, interval: str
) -> None:
    start, end = ranges(dataset)[which]
    body = get(analyst_client, "timeseries", interval=interval, **rng_params(dataset, which))
    assert body["interval"] == interval
    assert body["series"] == expected_series(dataset.events, start, end, interval, genre_of)


def test_timeseries_filtered(analyst_client: Any, dataset: Dataset, genre_of: dict[str, str]) -> None:
    start, end = ranges(dataset)["across"]
    flt = ("region", REGIONS[2].code)
    body = get(analyst_client, "timeseries", interval="week", region=flt[1], **rng_params(dataset, "across"))
    assert body["series"] == expected_series(dataset.events, start, end, "week", genre_of, flt)


@pytest.mark.parametrize("which", RANGES)
def test_monthly_revenue(analyst_client: Any, dataset: Dataset, genre_of: dict[str, str], which: str) -> None:
    start, end = ranges(dataset)[which]
    body = get(analyst_client, "monthly-revenue", **rng_params(dataset, which))
    expected = expected_series(dataset.events, start, end, "month", genre_of)
    assert [(m["month"], m["revenue_cents"], m["orders"]) for m in body["months"]] == [
        (p["period"][:7], p["revenue_cents"], p["orders"]) for p in expected
    ]
    for prev, cur in zip(body["months"], body["months"][1:], strict=False):
        if prev["revenue_cents"] > 0:
            assert cur["growth_pct"] == round(
                100 * (cur["revenue_cents"] - prev["revenue_cents"]) / prev["revenue_cents"], 2
            )
    assert body["months"][0]["growth_pct"] is None


@pytest.mark.parametrize("dimension", ["region", "genre", "channel"])
@pytest.mark.parametrize("which", RANGES)
def test_sales_by_dimension(
    analyst_client: Any, dataset: Dataset, genre_of: dict[str, str], which: str, dimension: str
) -> None:
    start, end = ranges(dataset)[which]
    body = get(analyst_client, f"sales-by-{dimension}", **rng_params(dataset, which))
    got = {
        r[dimension]: {k: r[k] for k in ("revenue_cents", "orders", "units", "events")}
        for r in body["results"]
    }
    expected = expected_members(dataset.events, start, end, dimension, genre_of)
    assert {k: v for k, v in got.items() if v["events"]} == expected
    whole = sum(v["revenue_cents"] for v in expected.values())
    for row in body["results"]:
        assert row["share_pct"] == (round(100 * row["revenue_cents"] / whole, 2) if whole else 0.0)
    revenues = [r["revenue_cents"] for r in body["results"]]
    assert revenues == sorted(revenues, reverse=True)


@pytest.mark.parametrize("by", ["revenue", "units"])
@pytest.mark.parametrize("which", RANGES)
def test_top_books(
    analyst_client: Any, dataset: Dataset, genre_of: dict[str, str], which: str, by: str
) -> None:
    start, end = ranges(dataset)[which]
    body = get(analyst_client, "top-books", by=by, limit=7, **rng_params(dataset, which))
    got = [(r["book_id"], r["revenue_cents"], r["units"]) for r in body["results"]]
    assert got == expected_top(dataset.events, start, end, "book", by, 7, genre_of)
    assert [r["rank"] for r in body["results"]] == list(range(1, len(got) + 1))
    assert all(r["title"] and r["genre"] == genre_of[r["book_id"]] for r in body["results"])


def test_top_books_speed_hit_ranks_across_watermark(
    analyst_client: Any, dataset: Dataset, genre_of: dict[str, str]
) -> None:
    """The book sold only after the watermark must rank by its merged total, not be missed."""
    body = get(analyst_client, "top-books", limit=3, **rng_params(dataset, "across"))
    hit = [r for r in body["results"] if r["batch"] is None]
    assert hit, "expected the speed-only best-seller in the top 3"
    assert hit[0]["speed"]["revenue_cents"] == hit[0]["revenue_cents"]


def test_top_books_genre(analyst_client: Any, dataset: Dataset, genre_of: dict[str, str]) -> None:
    start, end = ranges(dataset)["across"]
    genre = genre_of[dataset.events[0].product_id]
    body = get(analyst_client, "top-books", genre=genre, limit=5, **rng_params(dataset, "across"))
    got = [(r["book_id"], r["revenue_cents"], r["units"]) for r in body["results"]]
    assert got == expected_top(dataset.events, start, end, "book", "revenue", 5, genre_of, genre)


@pytest.mark.parametrize("by", ["revenue", "quantity"])
@pytest.mark.parametrize("which", RANGES)
def test_top_customers(
    analyst_client: Any, dataset: Dataset, genre_of: dict[str, str], which: str, by: str
) -> None:
    start, end = ranges(dataset)[which]
    body = get(analyst_client, "top-customers", by=by, limit=5, **rng_params(dataset, which))
    got = [(r["customer_id"], r["revenue_cents"], r["units"]) for r in body["results"]]
    assert got == expected_top(
        dataset.events, start, end, "customer", "revenue" if by == "revenue" else "units", 5, genre_of
    )
    assert all(r["name"] and r["region"] for r in body["results"])


def test_pipeline_status(analyst_client: Any, dataset: Dataset) -> None:
    body = get(analyst_client, "pipeline-status")
    assert body["watermark"] == dataset.watermark.isoformat()
    assert body["latest_batch_run"] == dataset.run_id
    run = body["batch_runs"][0]
    assert run["status"] == "published" and run["run_id"] == dataset.run_id
    before = [e for e in dataset.events if e.event_date < dataset.watermark]
    assert run["rows_fact"] == len(before)
    assert run["revenue_cents"] == sum(e.revenue_cents for e in before)
    assert body["speed_days"] == sorted(
        {e.event_date.isoformat() for e in dataset.events if e.event_date >= dataset.watermark}
    )
    assert set(body) >= {"consumer", "late_events", "dlq_total", "quarantine", "csv_reports"}


def test_openapi_schema_and_docs(analyst_client: Any) -> None:
    schema = analyst_client.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for name in (
        "summary",
        "timeseries",
        "top-books",
        "sales-by-region",
        "sales-by-genre",
        "sales-by-channel",
        "top-customers",
        "monthly-revenue",
        "pipeline-status",
        "generate-test-data",
    ):
        assert f"/api/analytics/{name}/" in paths
    docs = analyst_client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.content
    assert b"cdn." not in docs.content


@pytest.mark.parametrize("kind", ["top-books", "top-customers"])
@pytest.mark.parametrize("limit", [1, 2, 3, 5])
def test_rankings_exact_with_a_partial_batch_top(
    analyst_client: Any, dataset: Dataset, genre_of: dict[str, str], monkeypatch: Any, kind: str, limit: int
) -> None:
    """With no margin the cached batch top holds only ``limit`` keys: speed-layer keys outside it
    are bounded by its last value and looked up only when the bound lets them in."""
    from api import analytics, localcache, selectors

    monkeypatch.setattr(analytics, "RANK_MARGIN", 0)
    looked_up: list[str] = []
    real = selectors.ranked_totals

    def ranked_totals(src: Any, rng: Any, keys: Any, *args: Any) -> Any:
        looked_up.extend(keys)
        return real(src, rng, keys, *args)

    monkeypatch.setattr(selectors, "ranked_totals", ranked_totals)
    plain: list[str] = []
    real_plain = analytics._ranked_parts_plain

    def ranked_parts_plain(ctx: Any, split: Any, query: Any, kind: str) -> Any:
        plain.append(kind)
        return real_plain(ctx, split, query, kind)

    monkeypatch.setattr(analytics, "_ranked_parts_plain", ranked_parts_plain)
    localcache.clear()
    for which in ("across", "edge"):
        start, end = ranges(dataset)[which]
        for by in ("revenue", "units" if kind == "top-books" else "quantity"):
            body = get(analyst_client, kind, by=by, limit=limit, **rng_params(dataset, which))
            key = "book_id" if kind == "top-books" else "customer_id"
            got = [(r[key], r["revenue_cents"], r["units"]) for r in body["results"]]
            measure = "revenue" if by == "revenue" else "units"
            assert got == expected_top(
                dataset.events, start, end, kind.split("-")[1][:-1], measure, limit, genre_of
            ), (which, by)
    assert not plain, "the bound check should settle these without reading every speed key"
    if kind == "top-books":
        # The speed-only best-seller passes the bound: its batch part was looked up (and is none).
        w = dataset.watermark
        speed_only = {e.product_id for e in dataset.events if e.event_date >= w}
        speed_only -= {e.product_id for e in dataset.events if e.event_date < w}
        assert speed_only & set(looked_up)


@pytest.mark.parametrize("kind", ["top-books", "top-customers"])
def test_rankings_exact_when_falling_back_to_every_speed_key(
    analyst_client: Any, dataset: Dataset, genre_of: dict[str, str], monkeypatch: Any, kind: str
) -> None:
    """The fallback (ties at the batch floor, refunds on the speed side) is exact too."""
    from api import analytics, localcache

    monkeypatch.setattr(analytics, "_ranked_parts", analytics._ranked_parts_plain)
    localcache.clear()
    key = "book_id" if kind == "top-books" else "customer_id"
    for which in RANGES:
        start, end = ranges(dataset)[which]
        body = get(analyst_client, kind, limit=4, **rng_params(dataset, which))
        got = [(r[key], r["revenue_cents"], r["units"]) for r in body["results"]]
        assert got == expected_top(
            dataset.events, start, end, kind.split("-")[1][:-1], "revenue", 4, genre_of
        )
