"""Pure pieces of the speed layer: aggregation, batch splitting, markers, naming, pacing, stats."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace

import numpy as np
import orjson
import pytest

from salespulse.events import SaleEvent, decode, encode
from salespulse.lake import events_to_table
from salespulse.names import Names
from salespulse.reference import UNKNOWN, build_catalogue
from salespulse.stream import lake_sink, pacing
from salespulse.stream.aggregate import BookLookup, aggregate
from salespulse.stream.batch import split
from salespulse.stream.live import LiveUpdates
from salespulse.stream.poison import EXPECTED_REASON, KINDS, malformed
from salespulse.stream.progress import Marker, resume
from salespulse.stream.reconcile import expected_views
from salespulse.stream.redis_sink import (
    ApplyResult,
    ProgressUpdate,
    day_expire_at,
    minute_label,
    script_args,
)
from salespulse.stream.stats import DelayHistogram, lag, stats_fields

T0 = 1_764_072_000_000  # 2025-11-25T12:00:00Z


@pytest.fixture(scope="module")
def catalogue():
    return build_catalogue(3, 300, 500)


def random_events(catalogue, n: int, seed: int = 1) -> list[SaleEvent]:
    rnd = random.Random(seed)
    books = [*catalogue.book_id.tolist(), "BK-NOT-IN-CATALOGUE"]
    out = []
    for i in range(n):
        out.append(
            SaleEvent(
                event_id=str(uuid.UUID(int=rnd.getrandbits(128))),
                event_type="refund" if rnd.random() < 0.1 else "sale",
                event_time_ms=T0 - rnd.randint(0, 3 * 86_400_000)
                if rnd.random() < 0.1
                else T0 + rnd.randint(0, 7_200_000),
                order_id=f"O{i // 2}",
                line_no=i % 2 + 1,
                customer_id=f"CU{rnd.randint(1, 40):07d}",
                product_id=rnd.choice(books),
                quantity=rnd.randint(1, 5),
                unit_price_cents=rnd.randint(0, 5000),
                discount_bp=rnd.choice([0, 0, 500, 2500, 10000]),
                currency="USD",
                channel=rnd.choice(["web", "mobile_app", "phone"]),
                region=rnd.choice(["uk", "us-east", "apac"]),
                payment_method="card",
            )
        )
    return out


def test_aggregate_equals_event_by_event_recomputation(catalogue) -> None:
    events = random_events(catalogue, 3000)
    table = events_to_table(events, "stream", ["x"] * len(events), 0)
    deltas = aggregate(table, BookLookup.from_catalogue(catalogue))
    want = expected_views(events, catalogue.genre_of())
    assert deltas.totals == want["totals"]
    assert deltas.book_revenue == want["book:revenue"]
    assert deltas.book_units == want["book:units"]
    assert deltas.customer_revenue == want["customer:revenue"]
    assert deltas.customer_units == want["customer:units"]
    for view in ("region", "genre", "channel"):
        assert deltas.dims[view] == want[view]
    assert deltas.minutes == want["minutes"]
    assert deltas.events == 3000
    assert deltas.max_event_time_ms == max(e.event_time_ms for e in events)
    assert any(f"{UNKNOWN}:events" in fields for fields in deltas.dims["genre"].values())


def test_latest_orders_are_the_newest_lines_newest_first(catalogue) -> None:
    events = random_events(catalogue, 500)
    table = events_to_table(events, "stream", ["x"] * len(events), 0)
    latest = aggregate(table, BookLookup.from_catalogue(catalogue)).latest
    newest = sorted(events, key=lambda e: e.event_time_ms, reverse=True)[:50]
    assert [o["event_id"] for o in latest] == [e.event_id for e in newest]
    first = latest[0]
    assert set(first) == {
        "event_id", "order_id", "line_no", "event_time", "book_id", "title", "genre",
        "customer_id", "region", "channel", "quantity", "revenue_cents", "event_type",
    }  # fmt: skip
    assert first["revenue_cents"] == newest[0].revenue_cents


class Msg:
    def __init__(self, partition: int, offset: int, value: bytes | None):
        self._p, self._o, self._v = partition, offset, value

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def value(self) -> bytes | None:
        return self._v

    def key(self) -> bytes | None:
        return b"k"

    def headers(self):
        return [("trace", b"1")]


def test_split_skips_applied_offsets_and_keeps_every_dead_letter_reason(catalogue) -> None:
    events = random_events(catalogue, 6)
    msgs = [Msg(0, 10 + i, encode(e)) for i, e in enumerate(events[:3])]
    msgs += [
        Msg(1, 5, b"{nope"),
        Msg(1, 6, encode(events[3])),
        Msg(1, 7, malformed("negative_quantity", events[4])),
    ]
    batch = split(msgs, "t", {0: 11, 1: None}, ingested_at_ms=1_000)
    assert batch.replayed == 1
    assert (batch.chunks[0].first, batch.chunks[0].last, batch.chunks[0].next_offset) == (11, 12, 13)
    assert (batch.chunks[0].n_events, batch.chunks[1].n_events) == (2, 1)
    want = events_to_table([*events[1:3], events[3]], "stream", ["t/0/11", "t/0/12", "t/1/6"], 1_000)
    assert batch.table.to_pylist() == want.to_pylist()
    assert (batch.chunks[1].first, batch.chunks[1].last) == (5, 7)
    assert [d.offset for d in batch.chunks[1].dead] == [5, 7]
    assert "quantity: must be in" in batch.chunks[1].dead[1].reason
    assert batch.chunks[1].dead[0].headers == [("trace", b"1")]
    assert batch.n_events == 3 and batch.n_messages == 5


def test_split_orders_interleaved_partitions_by_partition_then_offset(catalogue) -> None:
    events = random_events(catalogue, 5)
    msgs = [
        Msg(2, 40, encode(events[0])),
        Msg(0, 7, encode(events[1])),
        Msg(2, 41, b"[]"),
        Msg(0, 8, encode(events[2])),
        Msg(2, 42, encode(events[3])),
    ]
    batch = split(msgs, "sales", {}, ingested_at_ms=5)
    assert batch.table.column("origin").to_pylist() == ["sales/0/7", "sales/0/8", "sales/2/40", "sales/2/42"]
    assert batch.table.column("event_id").to_pylist() == [events[i].event_id for i in (1, 2, 0, 3)]
    assert [(c.partition, c.first, c.last, c.n_events) for c in batch.chunks.values()] == [
        (2, 40, 42, 2),
        (0, 7, 8, 2),
    ]
    assert [(d.partition, d.offset) for d in batch.dead] == [(2, 41)]
    assert batch.dead[0].reason == "payload: must be a JSON object, got list"


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_poison_kind_is_rejected_with_its_reason(catalogue, kind: str) -> None:
    event = random_events(catalogue, 1)[0]
    with pytest.raises(ValueError) as info:
        decode(malformed(kind, event))
    assert EXPECTED_REASON[kind] in str(info.value)


def test_resume_from_marker_or_from_start_of_a_recreated_topic() -> None:
    same = resume(Marker("A", 120), "A", committed=100)
    assert (same.start_offset, same.applied_floor, same.new_incarnation) == (120, 120, False)
    recreated = resume(Marker("A", 120), "B", committed=100)
    assert (recreated.start_offset, recreated.applied_floor, recreated.new_incarnation) == (0, None, True)
    assert recreated.expected.stored == ("A", "120")
    fresh = resume(Marker(), "A", committed=None)
    assert (fresh.start_offset, fresh.expected.stored) == (None, ("", ""))
    assert resume(Marker(), "A", committed=42).start_offset == 42


def test_lake_file_names_round_trip_and_orphans_are_removed(tmp_path) -> None:
    name = lake_sink.file_name("sales.events", 2, 100, 199, "topic-id-1")
    assert name.startswith("sales.events-p2-o100-199-i") and name.endswith(".parquet")
    parsed = lake_sink.parse_file_name(name)
    assert (parsed.topic, parsed.partition, parsed.first, parsed.last) == ("sales.events", 2, 100, 199)
    day = tmp_path / "event_date=2025-11-25"
    day.mkdir()
    keep = day / lake_sink.file_name("sales.events", 2, 0, 99, "topic-id-1")
    orphan = day / name
    other_incarnation = day / lake_sink.file_name("sales.events", 2, 100, 199, "topic-id-2")
    other_partition = day / lake_sink.file_name("sales.events", 1, 100, 199, "topic-id-1")
    tmp = day / f".{name}.abc.tmp"
    for p in (keep, orphan, other_incarnation, other_partition, tmp):
        p.write_bytes(b"x")
    removed = lake_sink.remove_orphans(tmp_path, "sales.events", 2, "topic-id-1", 100)
    assert sorted(removed) == sorted([orphan, tmp])
    assert keep.exists() and other_incarnation.exists() and other_partition.exists()


def test_script_args_reference_contract_keys(catalogue) -> None:
    names = Names("", "P", "warehouse", __import__("pathlib").Path("/tmp"))
    events = random_events(catalogue, 50)
    deltas = aggregate(events_to_table(events, "stream", ["x"] * 50, 0), BookLookup.from_catalogue(catalogue))
    update = ProgressUpdate(0, Marker(), Marker("inc", 50))
    keys, arg = script_args(deltas, names, "sales.events", [update], dead_letters=2)
    payload = orjson.loads(arg)
    assert "P:progress:sales.events:0" in keys
    assert "P:day:2025-11-25:totals" in keys and "P:day:2025-11-25:book:revenue" in keys
    assert "P:minutes" in keys and "P:latest_orders" in keys and "P:watermark" in keys
    assert payload["cas"][0][1:] == ["", "", "inc", "50"]
    assert payload["dlq"] == 2 and payload["ev"] == 50
    assert all(isinstance(v, str) for h in payload["h"] for v in h[2:])


def test_key_time_helpers() -> None:
    assert minute_label(1_764_072_060) == "2025-11-25T12:01"
    assert day_expire_at("2025-11-25") == 1_764_028_800 + 4 * 86_400


def test_pacing_is_smooth_and_bounded() -> None:
    assert pacing.due(0.0, 1000, 0, None, 50) == 1
    assert pacing.due(0.0105, 1000, 1, None, 50) == 10
    assert pacing.due(1.0, 1000, 0, None, 50) == 50  # burst cap
    assert pacing.due(1.0, 1000, 0, 7, 50) == 7  # total cap
    assert pacing.due(0.5, 0, 0, None, 50) == 50  # flat out
    assert 0 < pacing.sleep_for(0.0, 100, 1) <= 0.05


def test_delay_percentiles_and_stats_fields() -> None:
    h = DelayHistogram()
    h.add(np.array([1000 - d for d in range(1, 101)]), 1000)  # delays 1..100 ms
    assert (h.percentile(50), h.percentile(99), h.total) == (50, 99, 100)
    assert lag({0: 10, 1: 5}, {0: 7}) == {0: 3, 1: 5}
    fields = stats_fields(1.0, 2.0, {0: 3, 1: 5}, "now", 50, 99)
    assert fields["lag_total"] == "8" and fields["lag:1"] == "5" and fields["delay_p99_ms"] == "99"


def test_live_updates_are_throttled_and_merged() -> None:
    live = LiveUpdates(interval_ms=250)
    assert not live.due(0)
    live.add(ApplyResult(True, day_totals={"2025-11-25": {"events": 1}}), [{"event_id": "a"}], T0)
    assert live.due(1000)
    first = orjson.loads(live.take(1000))
    assert first["type"] == "update" and first["max_event_time"] == "2025-11-25T12:00:00.000Z"
    live.add(ApplyResult(True, day_totals={"2025-11-25": {"events": 2}}), [{"event_id": "b"}], T0 + 5)
    assert not live.due(1100)
    live.add(ApplyResult(True, day_totals={"2025-11-25": {"events": 3}}), [{"event_id": "c"}], T0 + 9)
    assert live.due(1250)
    second = orjson.loads(live.take(1250))
    assert second["days"]["2025-11-25"]["events"] == 3
    assert [o["event_id"] for o in second["latest_orders"]] == ["c", "b"]
    assert second["max_event_time"] == "2025-11-25T12:00:00.009Z"


def test_replace_keeps_events_valid(catalogue) -> None:
    e = random_events(catalogue, 1)[0]
    assert decode(encode(replace(e, event_time_ms=T0 - 3_600_000))).event_time_ms == T0 - 3_600_000


def test_delay_window_forgets_old_batches() -> None:
    from salespulse.stream.stats import DelayWindow

    w = DelayWindow(window_s=10)
    w.add(0.0, np.array([0]), 5000)  # a slow start: 5 s
    w.add(5.0, np.array([990, 980]), 1000)
    assert w.percentile(99) == 5000
    w.add(11.0, np.array([995]), 1000)
    assert (w.percentile(50), w.percentile(99)) == (10, 20)
