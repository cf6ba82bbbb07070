"""Independent recomputation of the speed views, to check Redis and the lake against.

Deliberately shares nothing with the consumer's aggregation: it walks the
events one by one in plain Python, with :func:`salespulse.metrics.summarise`
for totals, so a bug in the Arrow group-by or the Lua script cannot hide
behind the same bug here.  Used by the tests, the benchmark, and by an
operator who wants to spot-check a topic against Redis.
"""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from confluent_kafka import Consumer, TopicPartition

from salespulse import kafka as sp_kafka
from salespulse.events import InvalidEvent, SaleEvent, decode
from salespulse.lake import raw_files
from salespulse.metrics import counts_as_order, summarise
from salespulse.names import Names
from salespulse.reference import UNKNOWN
from salespulse.settings import Settings

Views = dict[str, Any]


def read_topic(topic: str, settings: Settings | None = None, timeout: float = 30.0) -> list[Any]:
    """Every message currently in ``topic`` (all partitions), read with ``assign`` (no group)."""
    consumer = Consumer(sp_kafka.consumer_config("reconcile-reader", settings))
    meta = consumer.list_topics(topic, timeout=timeout).topics[topic]
    out = []
    try:
        for p in sorted(meta.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            if high <= low:
                continue
            consumer.assign([TopicPartition(topic, p, low)])
            got = 0
            while got < high - low:
                batch = consumer.consume(10_000, 5.0)
                if not batch:
                    raise TimeoutError(f"{topic}[{p}]: read {got} of {high - low} messages")
                for msg in batch:
                    if msg.error() is None:
                        out.append(msg)
                        got += 1
        return out
    finally:
        consumer.close()


def good_events(messages: Iterable[Any]) -> list[SaleEvent]:
    out = []
    for msg in messages:
        with contextlib.suppress(InvalidEvent):
            out.append(decode(msg.value()))
    return out


def expected_views(events: list[SaleEvent], genre_of: dict[str, str], watermark: str | None = None) -> Views:
    """The views CONTRACTS.md describes, computed event by event."""
    rows: dict[str, list[tuple[int, int, int, str]]] = defaultdict(list)
    book_rev: dict[str, Counter[str]] = defaultdict(Counter)
    book_units: dict[str, Counter[str]] = defaultdict(Counter)
    cust_rev: dict[str, Counter[str]] = defaultdict(Counter)
    cust_units: dict[str, Counter[str]] = defaultdict(Counter)
    dims: dict[str, dict[str, Counter[str]]] = {
        v: defaultdict(Counter) for v in ("region", "genre", "channel")
    }
    minutes: dict[int, Counter[str]] = defaultdict(Counter)
    late = 0
    for e in events:
        day = e.event_date.isoformat()
        rev, units, order = e.revenue_cents, e.units, int(counts_as_order(e.line_no, e.event_type))
        rows[day].append((e.line_no, e.quantity, rev, e.event_type))
        book_rev[day][e.product_id] += rev
        book_units[day][e.product_id] += units
        cust_rev[day][e.customer_id] += rev
        cust_units[day][e.customer_id] += units
        for view, member in (
            ("region", e.region),
            ("genre", genre_of.get(e.product_id, UNKNOWN)),
            ("channel", e.channel),
        ):
            d = dims[view][day]
            d[f"{member}:revenue_cents"] += rev
            d[f"{member}:orders"] += order
            d[f"{member}:units"] += units
            d[f"{member}:events"] += 1
        m = minutes[e.event_time_ms // 60_000 * 60]
        m["revenue_cents"] += rev
        m["orders"] += order
        m["units"] += units
        m["events"] += 1
        if watermark and day < watermark:
            late += 1
    return {
        "totals": {day: summarise(r) for day, r in rows.items()},
        "book:revenue": {d: dict(c) for d, c in book_rev.items()},
        "book:units": {d: dict(c) for d, c in book_units.items()},
        "customer:revenue": {d: dict(c) for d, c in cust_rev.items()},
        "customer:units": {d: dict(c) for d, c in cust_units.items()},
        **{view: {d: dict(c) for d, c in per_day.items()} for view, per_day in dims.items()},
        "minutes": {m: dict(c) for m, c in minutes.items()},
        "late_events": late,
    }


def redis_views(client: Any, names: Names, days: Iterable[str]) -> Views:
    """The same views read back from Redis (``client`` decodes responses)."""
    days = sorted(days)
    out: Views = {"totals": {}}
    for day in days:
        raw = client.hgetall(names.day_key("totals", day))
        if raw:
            out["totals"][day] = {k: int(v) for k, v in raw.items()}
    for view in ("book:revenue", "book:units", "customer:revenue", "customer:units"):
        out[view] = {}
        for day in days:
            members = client.zrange(names.day_key(view, day), 0, -1, withscores=True)
            if members:
                out[view][day] = {m: int(s) for m, s in members}
    for view in ("region", "genre", "channel"):
        out[view] = {}
        for day in days:
            raw = client.hgetall(names.day_key(view, day))
            if raw:
                out[view][day] = {k: int(v) for k, v in raw.items()}
    out["minutes"] = {}
    for epoch in client.zrange(names.key("minutes"), 0, -1):
        from salespulse.stream.redis_sink import minute_label

        raw = client.hgetall(names.key("minute", minute_label(int(epoch))))
        out["minutes"][int(epoch)] = {k: int(v) for k, v in raw.items()}
    out["late_events"] = int(client.get(names.key("stats", "late_events")) or 0)
    return out


def lake_event_ids(raw_dir: Path) -> Counter[str]:
    """How many times each event id occurs in the committed files under ``raw_dir``."""
    ids: Counter[str] = Counter()
    for path in raw_files(raw_dir):
        ids.update(pq.read_table(path, columns=["event_id"]).column("event_id").to_pylist())
    return ids


def partial_files(raw_dir: Path) -> list[Path]:
    """Temporary (not yet renamed) files: a reader must never see one as data."""
    return sorted(p for p in raw_dir.rglob("*") if p.is_file() and p.name.startswith("."))


def differences(expected: Views, actual: Views, window_s: int = 2 * 3600) -> list[str]:
    """Human-readable differences; empty when Redis matches the recomputation exactly.

    Minutes are compared over Redis' live window (the two hours up to the
    newest minute); every day view is compared in full.
    """
    out = []
    for view, per_day in expected.items():
        if view in ("minutes", "late_events"):
            continue
        got = actual.get(view, {})
        for day in sorted(set(per_day) | set(got)):
            if per_day.get(day) != got.get(day):
                want, have = per_day.get(day) or {}, got.get(day) or {}
                bad = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
                sample = [(k, want.get(k), have.get(k)) for k in bad[:3]]
                out.append(f"{view} {day}: {len(bad)} differ, e.g. {sample}")
    if expected["minutes"]:
        newest = max(expected["minutes"])
        want_m = {m: v for m, v in expected["minutes"].items() if m >= newest - window_s}
        if want_m != actual["minutes"]:
            bad = (
                sorted(set(want_m) ^ set(actual["minutes"]))[:3]
                or [m for m in want_m if want_m[m] != actual["minutes"].get(m)][:3]
            )
            out.append(f"minutes: {len(want_m)} expected, {len(actual['minutes'])} in Redis, e.g. {bad}")
    if expected["late_events"] != actual["late_events"]:
        out.append(f"late_events: expected {expected['late_events']}, got {actual['late_events']}")
    return out


def verify(settings: Settings, topic: str, redis_client: Any, watermark: str | None = None) -> dict[str, Any]:
    """Recompute everything from the topic and compare with Redis and the lake.

    Returns ``differences`` (empty when Redis is exact), ``lake_duplicates``,
    ``lake_missing``, ``lake_extra`` (event ids), ``partial_files`` and counts.
    """
    from salespulse.reference import get_catalogue

    names = Names.from_settings(settings)
    messages = read_topic(topic, settings)
    events = good_events(messages)
    expected = expected_views(events, get_catalogue(settings).genre_of(), watermark)
    actual = redis_views(redis_client, names, expected["totals"])
    raw_dir = names.raw_sales_dir("stream")
    ids = lake_event_ids(raw_dir)
    want = {e.event_id for e in events}
    return {
        "messages": len(messages),
        "events": len(events),
        "differences": differences(expected, actual),
        "lake_rows": sum(ids.values()),
        "lake_duplicates": sorted(i for i, n in ids.items() if n > 1),
        "lake_missing": sorted(want - set(ids)),
        "lake_extra": sorted(set(ids) - want),
        "partial_files": partial_files(raw_dir) if raw_dir.exists() else [],
        "expected": expected,
    }
