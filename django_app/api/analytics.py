"""The endpoint answers: split the range at the watermark, read both parts, merge.

Each ``*_get`` function is a selector over two stores: the warehouse
(:mod:`api.selectors`, cached) and the speed views (:mod:`api.speed`, always
fresh).  The batch part of an answer only changes when a new batch run is
published, so it is cached under the id of the latest published run
(``P:batch:latest``): a publish changes the key and every cached answer is
stale at once, with no explicit invalidation.  Cached values are kept in the
worker's memory too (:mod:`api.localcache`), so a repeated question costs no round
trip; they are shared between requests and never modified here.  The speed part
is a handful of Redis reads and is never cached, so live sales show up immediately.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from django.core.cache import cache

from api import localcache, selectors
from api.merge import (
    MEASURES,
    DateRange,
    Split,
    Totals,
    add_totals,
    bucketize,
    empty_totals,
    growth_pct,
    merge_members,
    merge_series,
    merge_top,
    share_pct,
    split_range,
    sum_totals,
)
from api.params import AnalyticsQuery
from api.ranking import Period, PeriodTop, RankSource
from api.speed import SpeedViews
from salespulse.metrics import average_order_value_cents
from salespulse.reference import CHANNELS, GENRES, REGIONS, get_catalogue

T = TypeVar("T")
REGION_NAMES = {r.code: r.name for r in REGIONS}
CHANNEL_NAMES = {c.code: c.name for c in CHANNELS}
DIMENSION_MEMBERS: dict[str, tuple[str, ...]] = {
    "region": tuple(r.code for r in REGIONS),
    "genre": tuple(GENRES),
    "channel": tuple(c.code for c in CHANNELS),
}
#: How long the "no watermark in Redis, ask PostgreSQL" fallback is remembered.
FALLBACK_TTL_S = 5


@dataclass(frozen=True)
class Context:
    """What one request knows about the two layers."""

    today: date
    watermark: date | None
    run_id: str | None
    speed: SpeedViews

    @classmethod
    def load(cls, today: date | None = None, speed: SpeedViews | None = None) -> Context:
        views = speed or SpeedViews()
        watermark, run_id = views.markers()
        if watermark is None:
            # Redis lost its markers (flush, fresh server): the warehouse still knows.
            run = _cached(
                f"fallback-run:{views.n.redis_prefix}", selectors.latest_published_run, FALLBACK_TTL_S
            )
            if run and run.get("watermark"):
                watermark, run_id = date.fromisoformat(run["watermark"]), run["run_id"]
        return cls(today or datetime.now(UTC).date(), watermark, run_id, views)

    def split(self, query: AnalyticsQuery) -> Split:
        return split_range(query.start, query.end, self.watermark)

    def speed_days(self, split: Split) -> list[date]:
        """Speed days of the split, up to tomorrow (no sale is dated further ahead)."""
        if split.speed is None:
            return []
        last = min(split.speed.end, self.today + timedelta(days=1))
        return list(DateRange(split.speed.start, last)) if split.speed.start <= last else []


def _cached(key: str, compute: Callable[[], T], timeout: int | None = None, weight: int = 1) -> T:
    """Worker memory, then the shared cache, then ``compute`` (filling both).

    ``weight`` is the entry's size in the worker's memory (:mod:`api.localcache`).
    """
    hit = localcache.get(key)
    if hit is not localcache.MISSING:
        return hit  # type: ignore[no-any-return]
    localcache.require_io()
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, timeout)
    localcache.put(key, value, timeout, weight)
    return value  # type: ignore[no-any-return]


def batch_cached(ctx: Context, name: str, token: str, compute: Callable[[], T], weight: int = 1) -> T:
    """Cache a batch part under the latest published run (a publish invalidates it)."""
    digest = hashlib.sha1(f"{name}|{token}".encode()).hexdigest()[:20]
    return _cached(f"batch:{ctx.run_id}:{ctx.watermark}:{digest}", compute, weight=weight)


def _run_info(ctx: Context) -> dict[str, Any] | None:
    if ctx.run_id is None:
        return None
    run_id = ctx.run_id
    return _cached(f"run:{run_id}", lambda: selectors.batch_run(run_id))


def sources(
    ctx: Context, split: Split, batch: Totals | None, speed: Totals | None, **extra: Any
) -> dict[str, Any]:
    """How much of the answer came from each layer, and as of when."""
    run = _run_info(ctx)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    out: dict[str, Any] = {"watermark": ctx.watermark.isoformat() if ctx.watermark else None, "batch": None}
    if split.batch is not None:
        out["batch"] = {
            **split.batch.as_dict(),
            "run_id": ctx.run_id,
            "as_of": run.get("finished_at") if run else None,
            **(batch or {}),
        }
    out["speed"] = None
    if split.speed is not None:
        out["speed"] = {**split.speed.as_dict(), "as_of": now, **(speed or {})}
    out.update(extra)
    return out


def _envelope(query: AnalyticsQuery, ctx: Context, src: dict[str, Any], **data: Any) -> dict[str, Any]:
    return {
        "range": {**DateRange(query.start, query.end).as_dict()},
        "filters": dict(query.filters),
        "sources": src,
        **data,
    }


def _speed_totals(ctx: Context, days: list[date], flt: tuple[str, str] | None) -> dict[date, Totals]:
    """Per-day speed totals, for one dimension member when filtered."""
    if flt is None:
        return ctx.speed.day_totals(days)
    out: dict[date, Totals] = {}
    for day, members in ctx.speed.day_member(flt[0], days).items():
        if flt[1] in members:
            out[day] = {**members[flt[1]], "refunds": None}
    return out


def _with_unknown_refunds(totals: Totals, flt: tuple[str, str] | None) -> Totals:
    return {**totals, "refunds": None} if flt is not None else totals


# -- endpoints -------------------------------------------------------------------


def summary_get(query: AnalyticsQuery, ctx: Context) -> dict[str, Any]:
    flt = query.filter()
    split = ctx.split(query)
    batch: Totals | None = None
    if split.batch is not None:
        rng = split.batch
        batch = batch_cached(ctx, "summary", query.cache_token(), lambda: selectors.sales_totals(rng, flt))
    speed_days = ctx.speed_days(split)
    speed = (
        _with_unknown_refunds(sum_totals(_speed_totals(ctx, speed_days, flt).values()), flt)
        if split.speed
        else None
    )
    total = _with_unknown_refunds(add_totals(add_totals(empty_totals(), batch or {}), speed or {}), flt)
    kpis = {
        **total,
        "average_order_value_cents": average_order_value_cents(
            int(total["revenue_cents"] or 0), int(total["orders"] or 0)
        ),
    }
    return _envelope(query, ctx, sources(ctx, split, batch, speed), totals=kpis)


def timeseries_get(query: AnalyticsQuery, ctx: Context) -> dict[str, Any]:
    flt = query.filter()
    split = ctx.split(query)

    def batch_series() -> tuple[list[dict[str, Any]], Totals | None]:
        """The zero-filled series of the batch part alone, and its sum (the same for the whole run)."""
        batch: dict[date, Totals] = {}
        if split.batch is not None:
            batch = selectors.sales_series(split.batch, query.interval, flt)
        series = merge_series(query.start, query.end, query.interval, batch, {})
        if flt is not None:
            for point in series:
                point["refunds"] = None
        return series, _with_unknown_refunds(sum_totals(batch.values()), flt) if split.batch else None

    if split.batch is not None:
        # A long daily series is mostly batch buckets: merged and zero-filled once per run,
        # weighted by its length in the worker's memory.
        cached, batch_total = batch_cached(
            ctx, "timeseries-series", query.cache_token(), batch_series, weight=query.days
        )
    else:
        cached, batch_total = batch_series()
    speed = _speed_totals(ctx, ctx.speed_days(split), flt) if split.speed else {}
    series = list(cached)  # shared with other requests: replace points, never change them
    if speed:
        where = {point["period"]: i for i, point in enumerate(series)}
        for bucket, totals in bucketize(speed, query.interval).items():
            i = where[bucket.isoformat()]
            point = series[i]
            merged: dict[str, Any] = {
                "period": point["period"],
                **add_totals({m: point[m] for m in MEASURES}, totals),
            }
            if flt is not None:
                merged["refunds"] = None
            series[i] = merged
    src = sources(
        ctx,
        split,
        batch_total,
        _with_unknown_refunds(sum_totals(speed.values()), flt) if split.speed else None,
    )
    return _envelope(query, ctx, src, interval=query.interval, series=series)


def monthly_revenue_get(query: AnalyticsQuery, ctx: Context) -> dict[str, Any]:
    monthly = AnalyticsQuery(query.start, query.end, "month", query.limit, query.by, dict(query.filters))
    answer = timeseries_get(monthly, ctx)
    previous: int | None = None
    months = []
    for point in answer.pop("series"):
        revenue = int(point["revenue_cents"] or 0)
        months.append({"month": point["period"][:7], **point, "growth_pct": growth_pct(revenue, previous)})
        previous = revenue
    answer["months"] = months
    return answer


def by_dimension_get(dimension: str, query: AnalyticsQuery, ctx: Context) -> dict[str, Any]:
    """Sales per region, genre or channel."""
    split = ctx.split(query)
    batch: dict[str, Totals] = {}
    if split.batch is not None:
        rng = split.batch
        batch = batch_cached(
            ctx, f"by-{dimension}", query.cache_token(), lambda: selectors.member_totals(dimension, rng)
        )
    speed = ctx.speed.member_totals(dimension, ctx.speed_days(split)) if split.speed else {}
    merged = merge_members(batch, speed, DIMENSION_MEMBERS[dimension])
    whole = sum(int(t["revenue_cents"] or 0) for t in merged.values())
    rows = []
    for member, totals in merged.items():
        row: dict[str, Any] = {dimension: member, "name": _member_name(dimension, member), **totals}
        row["share_pct"] = share_pct(int(totals["revenue_cents"] or 0), whole)
        row["average_order_value_cents"] = average_order_value_cents(
            int(totals["revenue_cents"] or 0), int(totals["orders"] or 0)
        )
        rows.append(row)
    rows.sort(key=lambda r: (-int(r["revenue_cents"] or 0), r[dimension]))
    member_measures = ("revenue_cents", "orders", "units", "events")
    src = sources(
        ctx,
        split,
        sum_totals(batch.values(), member_measures) if split.batch else None,
        sum_totals(speed.values(), member_measures) if split.speed else None,
    )
    return _envelope(query, ctx, src, dimension=dimension, results=rows)


def _member_name(dimension: str, member: str) -> str:
    if dimension == "region":
        return REGION_NAMES.get(member, member)
    if dimension == "channel":
        return CHANNEL_NAMES.get(member, member)
    return member


#: Extra batch keys fetched beyond ``limit`` for a ranking: the more, the rarer a speed-layer
#: key needs its own batch lookup (see :func:`_ranked_parts`).
RANK_MARGIN = 20


def _ranked_parts(
    ctx: Context, split: Split, query: AnalyticsQuery, kind: str
) -> tuple[dict[str, Totals], dict[str, Totals]]:
    """Batch and speed totals of every key that can be in an exact top ``limit``
    (see :func:`api.merge.merge_top`).

    The batch part is the batch top ``N = limit + RANK_MARGIN`` of the range, cached under the
    run whatever the speed layer holds (live sales change it all the time).  Any other key
    has a batch value of at most ``floor``, the N-th batch value (0 when the top holds every
    key of the range).  The speed layer returns, besides the top's keys, only the keys whose
    speed part can lift them to ``theta``, the ``limit``-th best merged value among the top's
    keys (:meth:`api.speed.SpeedViews.ranked`, bounds checked in Redis), and only those get
    their exact batch totals looked up.  If the merged ``limit``-th value does not beat
    ``floor`` (ties at the floor, refunds on the speed side), keys outside the batch top could
    tie or win: then every speed key is read and looked up (:func:`_ranked_parts_plain`).
    """
    days = ctx.speed_days(split)
    genre = query.filters.get("genre")
    measure = _rank_measure(query.by)
    depth = query.limit + RANK_MARGIN
    top: dict[str, Totals] = {}
    if split.batch is not None:
        rng = split.batch
        src, fetch = _batch_ranking(ctx, kind, query, rng, depth, [])
        top = batch_cached(ctx, f"top-{kind}", f"{query.cache_token()}|top{depth}", fetch)
    if not days:
        return top, {}

    def value(totals: Totals | None) -> int:
        return int((totals or {}).get(measure) or 0)

    complete = len(top) < depth  # every key with batch rows in the range is in ``top``
    floor = 0 if complete else min(value(t) for t in top.values())
    top_values = {k: value(t) for k, t in top.items()}
    # Without the batch top's bound, one day's best speed keys answer only when unfiltered.
    speed = ctx.speed.ranked(kind, measure, days, top_values, floor, complete and genre is None, query.limit)
    outside = sorted(k for k in speed if k not in top)
    if genre is not None and outside:
        genres = batch_cached(ctx, "book-genres", ",".join(outside), lambda: _book_genres(outside))
        speed = {k: v for k, v in speed.items() if k in top or genres.get(k) == genre}
        outside = [k for k in outside if k in speed]
    if complete:
        return top, speed
    batch = dict(top)
    if outside:
        token = hashlib.sha1(",".join(outside).encode()).hexdigest()
        batch.update(
            batch_cached(
                ctx,
                f"{kind}-totals",
                f"{query.cache_token()}|{token}",
                lambda: selectors.ranked_totals(src, rng, outside),
            )
        )
    merged = sorted((value(batch.get(k)) + value(speed.get(k)) for k in {*batch, *speed}), reverse=True)
    if len(merged) >= query.limit and merged[query.limit - 1] > floor:
        return batch, speed
    return _ranked_parts_plain(ctx, split, query, kind)


def _batch_ranking(
    ctx: Context, kind: str, query: AnalyticsQuery, rng: DateRange, depth: int, include: list[str]
) -> tuple[RankSource, Callable[[], dict[str, Totals]]]:
    """The ranked source and its exact batch candidates (top ``depth`` outside ``include``, plus it)."""
    measure = _rank_measure(query.by)
    genre = query.filters.get("genre")
    if kind == "book":
        only = selectors.genre_filter(genre)
        tops = _cached_tops(
            ctx, "book", measure, genre,
            lambda spans, d: selectors.period_tops(selectors.BOOKS, measure, spans, d, only),
        )  # fmt: skip
        return selectors.BOOKS, lambda: selectors.book_candidates(rng, query.by, depth, include, genre, tops)
    tops = _cached_tops(
        ctx, "customer", measure, None,
        lambda spans, d: selectors.period_tops(selectors.CUSTOMERS, measure, spans, d),
    )  # fmt: skip
    return selectors.CUSTOMERS, lambda: selectors.customer_candidates(rng, query.by, depth, include, tops)


def _ranked_parts_plain(
    ctx: Context, split: Split, query: AnalyticsQuery, kind: str
) -> tuple[dict[str, Totals], dict[str, Totals]]:
    """Every speed key with its batch totals, plus the batch top ``limit`` of the other keys."""
    days = ctx.speed_days(split)
    revenue = ctx.speed.zset_totals(f"{kind}:revenue", days) if days else {}
    units = ctx.speed.zset_totals(f"{kind}:units", days) if days else {}
    speed: dict[str, Totals] = {
        k: {"revenue_cents": revenue.get(k, 0), "units": units.get(k, 0)} for k in {*revenue, *units}
    }
    genre = query.filters.get("genre")
    if genre is not None and speed:
        books = sorted(speed)
        genres = batch_cached(ctx, "book-genres", ",".join(books), lambda: _book_genres(books))
        speed = {k: v for k, v in speed.items() if genres.get(k) == genre}
    if split.batch is None:
        return {}, speed
    include = sorted(speed)
    _, fetch = _batch_ranking(ctx, kind, query, split.batch, query.limit, include)
    token = f"{query.cache_token()}|{hashlib.sha1(','.join(include).encode()).hexdigest()}"
    return batch_cached(ctx, f"top-{kind}", token, fetch), speed


def _cached_tops(
    ctx: Context,
    kind: str,
    measure: str,
    genre: str | None,
    fetch: Callable[[list[Period], int], dict[Period, PeriodTop]],
) -> Callable[[list[Period], int], dict[Period, PeriodTop]]:
    """Per-period top lists cached one key per period under the published run.

    A period's list never changes within a run, and ranges overlap a lot
    (every "last N days" shares its months with the others), so caching per
    period rather than per range lets a new range reuse most lists.
    """
    scope = hashlib.sha1(f"{kind}|{measure}|{genre}".encode()).hexdigest()[:12]

    def get(spans: list[Period], depth: int) -> dict[Period, PeriodTop]:
        prefix = f"tops:{ctx.run_id}:{ctx.watermark}:{scope}:{depth}"
        keys = {p: f"{prefix}:{p[0]}:{p[1].isoformat()}" for p in spans}
        out = {p: v for p, k in keys.items() if (v := localcache.get(k)) is not localcache.MISSING}
        missing = [p for p in spans if p not in out]
        if missing:
            localcache.require_io()
            hits = cache.get_many([keys[p] for p in missing])
            shared = {p: hits[keys[p]] for p in missing if keys[p] in hits}
            fresh = (
                fetch([p for p in missing if p not in shared], depth) if len(shared) < len(missing) else {}
            )
            if fresh:
                cache.set_many({keys[p]: top for p, top in fresh.items()})
            for p, top in {**shared, **fresh}.items():
                localcache.put(keys[p], top)
            out.update(shared)
            out.update(fresh)
        return out

    return get


def _book_genres(book_ids: list[str]) -> dict[str, str]:
    """Genre of each book: the warehouse's dim_book, else the shared catalogue."""
    found = selectors.book_genres(book_ids)
    missing = [b for b in book_ids if b not in found]
    if missing:
        found.update({b: v["genre"] for b, v in _catalogue_books(missing).items()})
    return found


def _catalogue_books(book_ids: list[str]) -> dict[str, dict[str, Any]]:
    cat = get_catalogue()
    index = cat.book_index
    out = {}
    for b in book_ids:
        i = index.get(b)
        if i is not None:
            out[b] = {
                "title": cat.title[i],
                "author": cat.author[i],
                "genre": cat.genre[i],
                "publisher": cat.publisher[i],
            }
    return out


def _catalogue_customers(ids: list[str]) -> dict[str, dict[str, Any]]:
    cat = get_catalogue()
    index = cat.customer_index
    out = {}
    for c in ids:
        i = index.get(c)
        if i is not None:
            out[c] = {
                "name": cat.customer_name[i],
                "region": cat.customer_region[i],
                "segment": cat.customer_segment[i],
            }
    return out


def _details(
    ctx: Context,
    kind: str,
    ids: list[str],
    warehouse: Callable[[list[str]], dict[str, dict[str, Any]]],
    catalogue: Callable[[list[str]], dict[str, dict[str, Any]]],
) -> dict[str, dict[str, Any]]:
    """Names of the listed keys: the warehouse's dimension, else the shared catalogue.

    Cached under the run like a batch part: the dimensions change only with a publish.
    """

    def fetch() -> dict[str, dict[str, Any]]:
        found = warehouse(ids)
        missing = [k for k in ids if k not in found]
        if missing:
            found.update(catalogue(missing))
        return found

    return batch_cached(ctx, f"{kind}-details", ",".join(ids), fetch)


def _rank_measure(by: str) -> str:
    return "revenue_cents" if by == "revenue" else "units"


def top_books_get(query: AnalyticsQuery, ctx: Context) -> dict[str, Any]:
    split = ctx.split(query)
    batch, speed = _ranked_parts(ctx, split, query, "book")
    items = merge_top(batch, speed, _rank_measure(query.by), query.limit)
    details = _details(ctx, "book", [item.key for item in items], selectors.book_details, _catalogue_books)
    results = []
    for rank, item in enumerate(items, start=1):
        meta = details.get(item.key, {"title": item.key, "author": "", "genre": "unknown", "publisher": ""})
        results.append(
            {
                "rank": rank,
                "book_id": item.key,
                **meta,
                "revenue_cents": item.total("revenue_cents"),
                "units": item.total("units"),
                "batch": item.batch or None,
                "speed": item.speed or None,
            }
        )
    return _envelope(query, ctx, _ranked_sources(ctx, split, items), by=query.by, results=results)


def top_customers_get(query: AnalyticsQuery, ctx: Context) -> dict[str, Any]:
    split = ctx.split(query)
    batch, speed = _ranked_parts(ctx, split, query, "customer")
    items = merge_top(batch, speed, _rank_measure(query.by), query.limit)
    details = _details(
        ctx, "customer", [item.key for item in items], selectors.customer_details, _catalogue_customers
    )
    results = []
    for rank, item in enumerate(items, start=1):
        meta = details.get(item.key, {"name": item.key, "region": "unknown", "segment": "unknown"})
        results.append(
            {
                "rank": rank,
                "customer_id": item.key,
                **meta,
                "region_name": REGION_NAMES.get(meta.get("region", ""), meta.get("region")),
                "revenue_cents": item.total("revenue_cents"),
                "units": item.total("units"),
                "batch": item.batch or None,
                "speed": item.speed or None,
            }
        )
    return _envelope(query, ctx, _ranked_sources(ctx, split, items), by=query.by, results=results)


def _ranked_sources(ctx: Context, split: Split, items: list[Any]) -> dict[str, Any]:
    """For rankings, "how much from each part" is over the listed items."""
    measures = ("revenue_cents", "units")
    batch = sum_totals((i.batch for i in items), measures) if split.batch else None
    speed = sum_totals((i.speed for i in items), measures) if split.speed else None
    return sources(ctx, split, batch, speed, scope="listed items")
