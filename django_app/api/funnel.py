"""GET /api/analytics/funnel/: views -> carts -> checkouts -> purchases, batch + speed.

The serving rule is the other endpoints' (:mod:`api.analytics`): the range is
split at the watermark, days before it come from the warehouse and days from
it on from Redis, and the parts are added.  Interactions come from
``warehouse_meta.agg_daily_funnel`` (batch) and ``P:day:{D}:funnel*`` (speed);
purchases are the orders of the sales views (``agg_daily_sales`` /
``agg_daily_genre`` / ``agg_daily_channel`` and ``P:day:{D}:totals`` / the
genre and channel hashes), never recounted from interactions, so the funnel
and the sales pages agree.  Selectors, the merge and the view live together
here because they serve this one endpoint.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api import selectors
from api.analytics import DIMENSION_MEMBERS, Context, _member_name, batch_cached, sources
from api.merge import DateRange, Totals, add_totals
from api.params import AnalyticsQuery
from api.views import AnalyticsApi, _params
from salespulse.interactions.batch import QUALIFIED as FUNNEL_TABLE
from salespulse.interactions.funnel import MEASURES, rates, stages

BY_CHOICES = ("total", "genre", "channel")
COUNTS = (*MEASURES, "purchases")
Members = dict[str, Totals]


def _zero() -> Totals:
    return dict.fromkeys(COUNTS, 0)


def _add_members(a: Members, b: Members) -> Members:
    out = {m: dict(t) for m, t in a.items()}
    for member, totals in b.items():
        out[member] = add_totals(out.get(member, _zero()), totals)
    return out


# -- batch part (PostgreSQL) -------------------------------------------------------------


def funnel_batch_members(rng: DateRange, by: str) -> Members:
    """Interaction counts per member (``by`` genre|channel, or the single member ``total``)."""
    if not selectors.relation_exists(FUNNEL_TABLE):
        return {}
    key = "'total'" if by == "total" else by
    sums = ", ".join(f"SUM({m})" for m in MEASURES)
    rows = selectors._fetch(
        f"SELECT {key}, {sums} FROM {FUNNEL_TABLE} WHERE date BETWEEN %s AND %s GROUP BY 1",
        [rng.start, rng.end],
    )
    return {r[0]: {m: int(v or 0) for m, v in zip(MEASURES, r[1:], strict=True)} for r in rows}


def orders_batch_members(rng: DateRange, by: str) -> Members:
    """Warehouse orders per member, on the days that have interaction data only.

    History generated or imported without shopper interactions would otherwise put
    purchases with no views in front of them (conversion above 100 %).
    """
    if not selectors.relation_exists(FUNNEL_TABLE):
        return {}
    agg, column = ("agg_daily_sales", "'total'") if by == "total" else selectors.DIMENSIONS[by]
    if not selectors.relation_exists(selectors.table(agg)):
        return {}
    rows = selectors._fetch(
        f"SELECT {column}, SUM(orders) FROM {selectors.table(agg)} WHERE date IN "
        f"(SELECT DISTINCT date FROM {FUNNEL_TABLE} WHERE date BETWEEN %s AND %s) GROUP BY 1",
        [rng.start, rng.end],
    )
    return {r[0]: {"purchases": int(r[1] or 0)} for r in rows}


def batch_part(rng: DateRange, by: str) -> Members:
    return _add_members(funnel_batch_members(rng, by), orders_batch_members(rng, by))


# -- speed part (Redis) --------------------------------------------------------------------


def speed_part(ctx: Context, days: list[date], by: str) -> Members:
    """Funnel hashes plus the sales views' orders over ``days``."""
    if not days:
        return {}
    r, n = ctx.speed.r, ctx.speed.n
    pipe = r.pipeline(transaction=False)
    for day in days:
        pipe.hgetall(n.key("day", day.isoformat(), "funnel", *([] if by == "total" else [by])))
    out: Members = {}
    active: list[date] = []  # days with interaction data: only their orders are purchases
    for day, raw in zip(days, pipe.execute(), strict=True):
        if raw:
            active.append(day)
        for fld, value in raw.items():
            if by == "total":
                member, measure = "total", fld
            else:
                member, _, measure = fld.rpartition(":")
            if measure in MEASURES and member:
                acc = out.setdefault(member, _zero())
                acc[measure] = int(acc[measure] or 0) + int(value)
    if not active:
        return out
    if by == "total":
        orders = sum(int(t["orders"] or 0) for t in ctx.speed.day_totals(active).values())
        purchases: Members = {"total": {"purchases": orders}}
    else:
        purchases = {
            m: {"purchases": int(t["orders"] or 0)} for m, t in ctx.speed.member_totals(by, active).items()
        }
    return _add_members(out, purchases)


# -- the answer --------------------------------------------------------------------------------


def _row(counts: Totals) -> dict[str, Any]:
    full = {**_zero(), **counts}
    return {**full, "rates": rates(full)}


def _sum(members: Members) -> Totals:
    total = _zero()
    for t in members.values():
        total = add_totals(total, t)
    return total


def funnel_get(query: AnalyticsQuery, ctx: Context) -> dict[str, Any]:
    by = query.by
    split = ctx.split(query)
    batch: Members = {}
    if split.batch is not None:
        rng = split.batch
        load_id = ctx.speed.r.get(ctx.speed.n.key("funnel", "batch", "latest")) or ""
        token = f"{query.cache_token()}|{load_id}"
        batch = batch_cached(ctx, "funnel", token, lambda: batch_part(rng, by))
    speed = speed_part(ctx, ctx.speed_days(split), by) if split.speed else {}
    merged = _add_members(batch, speed)
    total = _sum(merged)
    answer: dict[str, Any] = {
        "range": DateRange(query.start, query.end).as_dict(),
        "filters": {},
        "sources": sources(
            ctx, split, _sum(batch) if split.batch else None, _sum(speed) if split.speed else None
        ),
        "by": by,
        "totals": _row(total),
        "stages": stages({**_zero(), **total}),
    }
    if by != "total":
        members = dict.fromkeys([*DIMENSION_MEMBERS[by], *sorted(merged)])
        rows = [{by: m, "name": _member_name(by, m), **_row(merged.get(m, _zero()))} for m in members]
        rows.sort(key=lambda r: (-int(r["views"] or 0), r[by]))
        answer["results"] = rows
    return answer


class FunnelApi(AnalyticsApi):
    """The shopper funnel over a range, in total or per genre / channel."""

    by_choices: ClassVar[tuple[str, ...]] = BY_CHOICES
    selector = staticmethod(funnel_get)

    @extend_schema(
        summary="Shopper funnel: views -> carts -> checkouts -> purchases, with conversion rates",
        parameters=[
            *_params(),
            OpenApiParameter("by", str, enum=list(BY_CHOICES), description="break down by genre or channel"),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        return super().get(request)
