"""The speed layer end to end on the real broker and Redis: exact views, DLQ, replay, live updates."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import redis
from confluent_kafka import Consumer, Producer, TopicPartition

from salespulse import kafka as sp_kafka
from salespulse.events import encode
from salespulse.names import Names
from salespulse.settings import with_overrides
from salespulse.stream import dlq, reconcile
from salespulse.stream.consumer import ConsumerOptions, StreamConsumer
from salespulse.stream.poison import EXPECTED_REASON, KINDS, malformed
from salespulse.stream.producer import LineSource, ProducerOptions, SalesProducer

FAST_GROUP = {"session_timeout_ms": 2000, "batch_size": 1000, "batch_wait_ms": 30}


@pytest.fixture
def scenario(stack, tmp_path):
    """Own topic prefix, Redis prefix and lake for one test."""
    tag = uuid.uuid4().hex[:6]
    settings = with_overrides(
        stack.settings,
        topic_prefix=f"{stack.settings.topic_prefix}{tag}.",
        redis_prefix=f"{stack.settings.redis_prefix}:{tag}",
        data_dir=tmp_path / "data",
    )
    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    yield settings, Names.from_settings(settings), client
    client.close()


def consume_until_idle(settings, **options) -> object:
    opts = ConsumerOptions(**{**FAST_GROUP, "until_idle_s": 1.5, **options})
    return StreamConsumer(settings, opts).run()


def test_views_are_exact_with_refunds_late_events_and_a_watermark(scenario) -> None:
    settings, names, client = scenario
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    client.set(names.key("watermark"), yesterday)  # events before yesterday are late
    sub = client.pubsub()
    sub.subscribe(names.updates_channel)
    producer = SalesProducer(
        settings,
        ProducerOptions(rate=0, count=6000, seed=5, refund_rate=0.05, late_ratio=0.05, late_max_hours=60),
    )
    sent = producer.run()
    assert (sent.sent, sent.delivered, sent.failed) == (6000, 6000, 0)
    assert sent.late > 200

    summary = consume_until_idle(settings)
    assert summary.events == 6000 and summary.dead_letters == 0

    report = reconcile.verify(settings, names.sales_topic, client, watermark=yesterday)
    assert report["events"] == 6000
    assert report["differences"] == []
    assert report["expected"]["late_events"] > 0  # late events counted against the watermark
    assert report["lake_rows"] == 6000 and not report["lake_missing"] and not report["lake_duplicates"]
    totals = report["expected"]["totals"]
    assert sum(t["refunds"] for t in totals.values()) > 20

    latest = [orjson.loads(x) for x in client.lrange(names.key("latest_orders"), 0, -1)]
    assert len(latest) == 50 and len({o["event_id"] for o in latest}) == 50
    stats = client.hgetall(names.key("stats", "consumer"))
    assert int(stats["events_total"]) == 6000 and stats["lag_total"] == "0"
    markers = [client.hgetall(names.key("progress", names.sales_topic, p)) for p in range(3)]
    assert sum(int(m["next_offset"]) for m in markers) == 6000

    updates = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        message = sub.get_message(timeout=0.5)
        if message and message["type"] == "message":
            updates.append(orjson.loads(message["data"]))
        elif updates and message is None:
            break
    sub.close()
    assert updates and all(u["type"] == "update" for u in updates)
    newest = max(updates, key=lambda u: u["published_at"])
    assert newest["max_event_time"] >= max(o["event_time"] for o in latest)
    today = datetime.now(UTC).date().isoformat()
    last_days = {d: v for u in updates for d, v in u["days"].items()}
    assert last_days[today] == totals[today]  # the final totals were published

    # A second consumer in a fresh group (no committed offsets) replays nothing: the markers hold.
    again = consume_until_idle(settings, group=names.consumer_group + ".again")
    assert again.events == 0
    assert reconcile.verify(settings, names.sales_topic, client, watermark=yesterday)["differences"] == []
    assert int(client.hget(names.key("stats", "consumer"), "events_total")) == 6000


def test_poison_messages_go_to_the_dlq_with_reasons_and_good_ones_count(scenario) -> None:
    settings, names, client = scenario
    sp_kafka.ensure_topics({names.sales_topic: 3, names.dlq_topic: 1}, settings)
    import numpy as np

    good = LineSource(np.random.default_rng(9), settings, 0.02, 200).take(300, int(time.time() * 1000))
    producer = Producer(sp_kafka.producer_config(settings))
    bad_kinds = []
    for i, event in enumerate(good):
        producer.produce(names.sales_topic, encode(event), key=event.order_id.encode())
        if i % 25 == 0:
            kind = list(KINDS)[len(bad_kinds) % len(KINDS)]
            bad_kinds.append(kind)
            producer.produce(
                names.sales_topic,
                malformed(kind, event),
                key=event.order_id.encode(),
                headers=[("kind", kind.encode())],
            )
    producer.produce(names.sales_topic, None, key=b"tombstone", headers=[("kind", b"empty")])
    assert producer.flush(30) == 0

    summary = consume_until_idle(settings)
    assert summary.events == 300 and summary.dead_letters == len(bad_kinds) + 1
    report = reconcile.verify(settings, names.sales_topic, client)
    assert report["events"] == 300 and report["differences"] == []
    assert report["lake_rows"] == 300

    reader = Consumer(sp_kafka.consumer_config("dlq-reader", settings))
    reader.assign([TopicPartition(names.dlq_topic, 0, 0)])
    dead = []
    deadline = time.monotonic() + 20
    while len(dead) < len(bad_kinds) + 1 and time.monotonic() < deadline:
        dead += [m for m in reader.consume(100, 1.0) if m.error() is None]
    reader.close()
    assert len(dead) == len(bad_kinds) + 1
    for msg in dead:
        headers = {k: v.decode() for k, v in msg.headers()}
        kind = headers["kind"]
        assert headers[dlq.ORIGIN_TOPIC] == names.sales_topic
        assert int(headers[dlq.ORIGIN_OFFSET]) >= 0 and headers[dlq.ORIGIN_PARTITION] in {"0", "1", "2"}
        reason = headers[dlq.REASON]
        assert EXPECTED_REASON.get(kind, "empty message") in reason
        if kind == "oversized":
            assert len(msg.value()) > 16 * 1024  # original bytes kept
    assert sorted(h for m in dead for k, h in m.headers() if k == "kind") == sorted(
        [k.encode() for k in bad_kinds] + [b"empty"]
    )
    assert int(client.hget(names.key("stats", "consumer"), "dlq_total")) == len(bad_kinds) + 1
