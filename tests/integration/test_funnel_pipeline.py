"""Interactions through the real broker into the lake and Redis, then the batch funnel in PostgreSQL.

The expected numbers are an independent count over the produced messages
(plain Python over the decoded interactions), never the code under test.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import psycopg2
import pyarrow.parquet as pq
import pytest
import redis
from confluent_kafka import Consumer, Producer

from salespulse import cli
from salespulse import kafka as sp_kafka
from salespulse.interactions import batch, sinks
from salespulse.interactions.consumer import FunnelConsumer, Options, dlq_topic
from salespulse.interactions.contract import decode
from salespulse.interactions.funnel import MEASURE_OF_KIND
from salespulse.interactions.simulate import interactions_for_lines
from salespulse.names import Names
from salespulse.reference import get_catalogue
from salespulse.services import urls
from salespulse.settings import get_settings
from salespulse.simulation import orders_to_lines, rhythm_times_ms
from salespulse.stream.progress import Marker

TODAY = datetime.now(UTC).date()
#: Yesterday 21:00 to today 03:00 UTC: the window spans two days (recent, so the day keys live).
END_MS = int(datetime(TODAY.year, TODAY.month, TODAY.day, 3, tzinfo=UTC).timestamp() * 1000)
DAYS = ((TODAY - timedelta(days=1)).isoformat(), TODAY.isoformat())
BAD = [b"{not json", b'{"schema": "interaction.v1", "kind": "wink"}']


@pytest.fixture(scope="module")
def isolated(stack: Any) -> Iterator[None]:
    """Own Redis and topic prefixes (under the run's), so other modules' funnel days never mix in."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SALESPULSE_REDIS_PREFIX", stack.settings.redis_prefix + "f")
        mp.setenv("SALESPULSE_TOPIC_PREFIX", stack.settings.topic_prefix + "f.")
        get_settings.cache_clear()
        yield
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def produced(isolated: None) -> dict[str, Any]:
    """~150 orders' interactions plus two invalid messages on a fresh 3-partition topic."""
    names = Names.from_settings()
    topic = names.interactions_topic
    sp_kafka.ensure_topics({topic: 3, dlq_topic(names): 1})
    catalogue = get_catalogue()
    rng = np.random.default_rng(21)
    lines = orders_to_lines(rng, catalogue, rhythm_times_ms(rng, END_MS - 6 * 3_600_000, END_MS, 150))
    messages = interactions_for_lines(np.random.default_rng(22), catalogue, lines)
    producer = Producer(sp_kafka.producer_config())
    for n, raw in enumerate([*messages, *BAD]):
        producer.produce(topic, value=raw, key=str(n % 7).encode())
    assert producer.flush(30) == 0
    return {"topic": topic, "items": [decode(m) for m in messages], "genre_of": catalogue.genre_of()}


def expected_counts(items: list[Any], genre_of: dict[str, str]) -> dict[tuple[str, str], Counter[str]]:
    """(day, "" | "genre:<g>" | "channel:<c>") -> measure counts."""
    out: dict[tuple[str, str], Counter[str]] = {}
    for i in items:
        day = i.event_date.isoformat()
        m = MEASURE_OF_KIND[i.kind]
        for scope in ("", f"genre:{genre_of.get(i.product_id, 'unknown')}", f"channel:{i.channel}"):
            out.setdefault((day, scope), Counter())[m] += 1
    return out


def redis_counts(r: redis.Redis, names: Names) -> dict[tuple[str, str], Counter[str]]:
    out: dict[tuple[str, str], Counter[str]] = {}
    for day in DAYS:
        for k, v in r.hgetall(sinks.funnel_key(names, day)).items():
            out.setdefault((day, ""), Counter())[k] = int(v)
        for dim in ("genre", "channel"):
            for k, v in r.hgetall(sinks.funnel_key(names, day, dim)).items():
                member, _, measure = k.rpartition(":")
                out.setdefault((day, f"{dim}:{member}"), Counter())[measure] = int(v)
    return out


@pytest.fixture(scope="module")
def consumed(produced: dict[str, Any]) -> dict[str, Any]:
    summary = FunnelConsumer(options=Options(assign=True, until_idle_s=1.5, batch_size=500)).run()
    return {"summary": summary}


def test_redis_funnel_equals_an_independent_count(produced: dict[str, Any], consumed: dict[str, Any]) -> None:
    names = Names.from_settings()
    r = redis.Redis.from_url(urls().redis, decode_responses=True)
    assert consumed["summary"].events == len(produced["items"])
    assert consumed["summary"].invalid == len(BAD)
    assert redis_counts(r, names) == expected_counts(produced["items"], produced["genre_of"])
    assert int(r.hget(sinks.stats_key(names), "invalid_total")) == len(BAD)


def test_invalid_messages_reach_the_dlq_with_reasons(
    produced: dict[str, Any], consumed: dict[str, Any]
) -> None:
    from confluent_kafka import TopicPartition

    consumer = Consumer(sp_kafka.consumer_config("dlq-reader"))
    consumer.assign([TopicPartition(dlq_topic(Names.from_settings()), 0, 0)])
    got = consumer.consume(10, 10)
    consumer.close()
    assert sorted(m.value() for m in got) == sorted(BAD)
    reasons = sorted(dict(m.headers())["reason"].decode() for m in got)
    assert reasons[0].startswith("interaction_id: missing; kind: must be one of")
    assert reasons[0].endswith("got 'wink'; event_time: missing; session_id: missing; product_id: missing; "
                               "channel: missing; region: missing")  # fmt: skip
    assert reasons[1].startswith("payload: not valid UTF-8 JSON")


def test_replay_is_not_counted_twice(produced: dict[str, Any], consumed: dict[str, Any]) -> None:
    """A consumer of another group (no committed offsets) and one replaying a stale batch change nothing."""
    names = Names.from_settings()
    r = redis.Redis.from_url(urls().redis, decode_responses=True)
    before = redis_counts(r, names)
    files_before = sorted(p.name for p in sinks.raw_dir(names).rglob("*.parquet"))
    again = FunnelConsumer(options=Options(assign=True, until_idle_s=1.0, group="other-group")).run()
    assert again.events == 0
    # Replay one real batch with a stale view of the markers (a crash before the commit).
    from confluent_kafka import TopicPartition

    stale = FunnelConsumer(options=Options(assign=True))
    stale.consumer.assign([TopicPartition(produced["topic"], p, 0) for p in range(3)])
    messages = stale.consumer.consume(400, 5)
    stale.incarnation = stale.topic_id()
    stale.floors = {0: None, 1: None, 2: None}
    stale.expected = {p: Marker() for p in range(3)}
    assert stale.process(messages) == 0
    stale.consumer.close()
    assert stale.summary.replayed == len(messages)
    assert redis_counts(r, names) == before
    assert sorted(p.name for p in sinks.raw_dir(names).rglob("*.parquet")) == files_before


def test_lake_holds_every_interaction_once(produced: dict[str, Any], consumed: dict[str, Any]) -> None:
    files = list(sinks.raw_dir(Names.from_settings()).rglob("*.parquet"))
    ids = [i for f in files for i in pq.read_table(f, columns=["interaction_id"]).column(0).to_pylist()]
    assert sorted(ids) == sorted(i.interaction_id for i in produced["items"])
    assert {f.parent.name for f in files} == {f"event_date={d}" for d in DAYS}


def test_batch_funnel_dedups_and_equals_an_independent_count(
    produced: dict[str, Any], consumed: dict[str, Any], stack: Any
) -> None:
    names = Names.from_settings()
    raw = sinks.raw_dir(names)
    one = sorted(raw.rglob("*.parquet"))[0]
    shutil.copy(one, one.with_name("replayed-" + one.name))  # a duplicate the batch must drop
    genre_of = produced["genre_of"]
    expected: Counter[tuple[Any, ...]] = Counter()
    for i in produced["items"]:
        expected[
            (i.event_date, genre_of.get(i.product_id, "unknown"), i.channel, MEASURE_OF_KIND[i.kind])
        ] += 1
    for _run in range(2):  # a rerun replaces, never adds
        assert cli.main(["funnel-batch", "--from", DAYS[0], "--to", DAYS[1]]) == 0
    conn = psycopg2.connect(stack.database_url)
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT date, genre, channel, views, carts, removes, checkouts FROM {batch.QUALIFIED} "
            "WHERE date BETWEEN %s AND %s",
            list(DAYS),
        )
        rows = cur.fetchall()
        cur.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = 'warehouse_meta' "
            "AND table_name = 'agg_daily_funnel' ORDER BY ordinal_position"
        )
        types = [t for (t,) in cur.fetchall()]
    conn.close()
    got: Counter[tuple[Any, ...]] = Counter()
    for d, g, ch, *counts in rows:
        for m, n in zip(("views", "carts", "removes", "checkouts"), counts, strict=True):
            if n:
                got[(d, g, ch, m)] += n
    assert got == expected
    assert len(rows) == len({(d, g, ch) for d, g, ch, _m in expected})
    assert types == ["date", "character varying", "character varying", "bigint", "bigint", "bigint", "bigint"]
    assert {r[0] for r in rows} == {date.fromisoformat(d) for d in DAYS}
