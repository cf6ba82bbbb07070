"""The stream consumer: Kafka batches into the DLQ, the lake and Redis, then commits.

This module only wires the pure pieces (``batch``, ``aggregate``,
``progress``, ``stats``, ``live``) to the adapters (``dlq``, ``lake_sink``,
``redis_sink``) and to confluent-kafka.  Per batch, in this order:

1. decode and validate every message (``events_columnar.decode_many``);
2. send dead letters (their delivery is confirmed before step 4);
3. write the good events to the lake, one file per partition chunk and date;
4. apply all view deltas and the progress markers in one atomic Redis script;
5. store and commit the offsets.

A crash between any two steps replays the batch: Redis skips what its
markers cover, and lake files beyond the markers are removed at assignment
and written again.  ``--crash-at`` makes the process die at a chosen step,
for the crash-safety tests.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import redis
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicCollection, TopicPartition

from salespulse import kafka as sp_kafka
from salespulse.events import format_event_time
from salespulse.names import Names
from salespulse.reference import get_catalogue
from salespulse.services import urls
from salespulse.settings import Settings, get_settings
from salespulse.stream import lake_sink
from salespulse.stream.aggregate import BookLookup, ViewDeltas, aggregate
from salespulse.stream.batch import Batch, split
from salespulse.stream.dlq import DeadLetterSink
from salespulse.stream.live import LiveUpdates
from salespulse.stream.progress import Marker, resume
from salespulse.stream.redis_sink import ApplyResult, ProgressUpdate, RedisSink
from salespulse.stream.stats import DelayHistogram, DelayWindow, RateMeter, lag, stats_fields

log = logging.getLogger("salespulse.consume")

CRASH_POINTS = ("after_dlq", "mid_lake", "after_lake", "after_redis", "after_commit")
CRASH_EXIT_CODE = 70
MAX_CONFLICT_RETRIES = 5
#: Batches at least this big start at once, whatever the minimum interval.
SMALL_BATCH = 500


@dataclass
class ConsumerOptions:
    """Knobs of one consumer process (the CLI flags)."""

    topic: str | None = None  # default: the configured sales topic
    group: str | None = None  # default: the configured consumer group
    batch_size: int = 5000
    batch_wait_ms: int = 50
    min_batch_interval_ms: int = 50
    session_timeout_ms: int = 6000
    until_idle_s: float | None = None
    max_events: int | None = None
    crash_at: str | None = None  # "POINT" or "POINT:N" (the N-th batch with messages)
    stats_interval_s: float = 1.0
    live_interval_ms: int = 250


@dataclass
class PartitionState:
    expected: Marker  # the marker the next apply compares against
    floor: int | None  # offsets below are already applied


@dataclass
class RunSummary:
    events: int = 0
    dead_letters: int = 0
    batches: int = 0
    replayed: int = 0
    conflicts: int = 0
    seconds: float = 0.0
    delay_p50_ms: int | None = None
    delay_p99_ms: int | None = None
    assigned: list[int] = field(default_factory=list)


def parse_crash_at(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    point, _, nth = value.partition(":")
    if point not in CRASH_POINTS:
        raise ValueError(f"--crash-at: unknown point {point!r}, expected one of {CRASH_POINTS}")
    return point, int(nth or 1)


class StreamConsumer:
    """One consumer-group member; :meth:`run` loops until stopped, idle or done."""

    def __init__(self, settings: Settings | None = None, options: ConsumerOptions | None = None):
        self.settings = settings or get_settings()
        self.options = options or ConsumerOptions()
        self.names = Names.from_settings(self.settings)
        self.topic = self.options.topic or self.names.sales_topic
        self.group = self.options.group or self.names.consumer_group
        self.crash = parse_crash_at(self.options.crash_at)
        sp_kafka.ensure_topics({self.topic: self.settings.partitions, self.names.dlq_topic: 1}, self.settings)
        session = self.options.session_timeout_ms
        self.consumer = Consumer(
            sp_kafka.consumer_config(
                self.group,
                self.settings,
                **{
                    "session.timeout.ms": session,
                    "heartbeat.interval.ms": max(100, session // 4),
                    "fetch.wait.max.ms": 10,  # the local broker answers a fetch only at this bound
                    "on_commit": self._on_commit,
                },
            )
        )
        self.admin = sp_kafka.admin(self.settings)
        client = redis.Redis.from_url(urls(self.settings).redis, decode_responses=True)
        self.sink = RedisSink(client, self.names)
        self.dlq = DeadLetterSink(
            Producer(sp_kafka.producer_config(self.settings, **{"linger.ms": 0})),
            self.names.dlq_topic,
            self.topic,
            self.group,
        )
        self.books = BookLookup.from_catalogue(get_catalogue(self.settings))
        self.raw_dir = self.names.raw_sales_dir(lake_sink.SOURCE)
        self.state: dict[int, PartitionState] = {}
        self.incarnation = ""
        self.live = LiveUpdates(interval_ms=self.options.live_interval_ms)
        self.delays = DelayHistogram()  # since start (the run summary)
        self.recent_delays = DelayWindow()  # last 10 s (stats for the health page)
        self.rate = RateMeter()
        self.summary = RunSummary()
        self.stop_event = threading.Event()
        self._batch_latency_ms = 0.0
        self._last_stats = 0.0
        self._crash_batches = 0
        self._last_batch_at = 0.0
        self._writers = ThreadPoolExecutor(
            max_workers=max(1, self.settings.partitions), thread_name_prefix="lake"
        )

    # -- Kafka callbacks -----------------------------------------------------

    def _on_commit(self, err: Any, partitions: list[TopicPartition]) -> None:
        if err is not None and err.code() != KafkaError._NO_OFFSET:
            log.warning("offset commit failed (the progress markers still hold): %s", err)

    def topic_id(self) -> str:
        """The topic's id, which changes when the topic is deleted and recreated."""
        try:
            future = self.admin.describe_topics(TopicCollection([self.topic]))[self.topic]
            return str(future.result(timeout=15).topic_id)
        except Exception as exc:  # an old broker without topic ids: recreation goes unnoticed
            log.warning(
                "cannot read the id of topic %s (%s); recreation will not be detected", self.topic, exc
            )
            return ""

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.incarnation = self.topic_id()
        ids = [tp.partition for tp in partitions]
        markers = self.sink.read_markers(self.topic, ids)
        committed = {tp.partition: tp.offset for tp in consumer.committed(partitions, timeout=15)}
        for tp in partitions:
            p = tp.partition
            r = resume(markers[p], self.incarnation, committed.get(p))
            if r.new_incarnation:
                log.warning(
                    "topic %s was recreated: partition %d is read again from its start", self.topic, p
                )
                tp.offset = OFFSET_BEGINNING
                floor = 0
            elif r.start_offset is not None:
                tp.offset = r.start_offset
                floor = r.start_offset
            else:
                floor, _high = consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=15)
            lake_sink.remove_orphans(self.raw_dir, self.topic, p, self.incarnation, max(floor, 0))
            self.state[p] = PartitionState(r.expected, r.applied_floor)
        log.info(
            "assigned %s[%s] (incarnation %s), resuming at %s",
            self.topic,
            ",".join(map(str, ids)),
            lake_sink.incarnation_tag(self.incarnation),
            {tp.partition: tp.offset for tp in partitions},
        )
        self.summary.assigned = sorted(set(self.summary.assigned) | set(ids))
        consumer.assign(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("revoked %s[%s]", self.topic, ",".join(str(tp.partition) for tp in partitions))
        for tp in partitions:
            self.state.pop(tp.partition, None)

    # -- one batch -----------------------------------------------------------

    def _maybe_crash(self, point: str) -> None:
        if self.crash and self.crash[0] == point and self._crash_batches >= self.crash[1]:
            log.error("crash injected at %s (batch %d)", point, self._crash_batches)
            logging.shutdown()
            os._exit(CRASH_EXIT_CODE)

    def _write_lake(self, batch: Batch, table: pa.Table) -> None:
        """One file per partition chunk (and date), written in parallel: the fsyncs overlap."""
        futures = []
        row = 0
        for p in sorted(batch.chunks):
            chunk = batch.chunks[p]
            n = chunk.n_events
            if n:
                name = lake_sink.file_name(self.topic, p, chunk.first, chunk.last, self.incarnation)
                futures.append(
                    self._writers.submit(lake_sink.write_chunk, table.slice(row, n), self.raw_dir, name)
                )
                row += n
        for i, future in enumerate(futures):
            future.result()
            if i == 0:
                self._maybe_crash("mid_lake")

    def _apply(
        self, messages: list[Any], batch: Batch, table: pa.Table | None
    ) -> tuple[Batch, ApplyResult, ViewDeltas]:
        """Apply the batch to Redis, re-reading markers and re-splitting if one moved under us."""
        for _attempt in range(MAX_CONFLICT_RETRIES):
            deltas = aggregate(table, self.books) if table is not None else ViewDeltas()
            updates = [
                ProgressUpdate(p, self.state[p].expected, Marker(self.incarnation, c.next_offset))
                for p, c in sorted(batch.chunks.items())
            ]
            result = self.sink.apply(deltas, self.topic, updates, len(batch.dead))
            if result.applied:
                return batch, result, deltas
            self.summary.conflicts += 1
            log.warning("progress marker moved under this consumer (%s); re-reading", result.conflicts)
            markers = self.sink.read_markers(self.topic, sorted(batch.chunks))
            for p, m in markers.items():
                same = m.incarnation == self.incarnation and m.next_offset is not None
                self.state[p] = PartitionState(m, m.next_offset if same else None)
            batch = split(messages, self.topic, {p: s.floor for p, s in self.state.items()}, _now_ms())
            table = batch.table
        raise RuntimeError(f"batch not applied after {MAX_CONFLICT_RETRIES} marker conflicts")

    def process(self, messages: list[Any]) -> int:
        """Run one consumed batch through every sink; returns the number of good events applied."""
        started = time.perf_counter()
        good = []
        for msg in messages:
            err = msg.error()
            if err is None:
                if msg.partition() in self.state:
                    good.append(msg)
            elif err.code() != KafkaError._PARTITION_EOF:
                log.warning("consume error: %s", err)
        batch = split(good, self.topic, {p: s.floor for p, s in self.state.items()}, _now_ms())
        self.summary.replayed += batch.replayed
        if not batch.chunks:
            return 0
        self._crash_batches += 1
        self.dlq.send(batch.dead)
        self._maybe_crash("after_dlq")
        table = batch.table
        if table is not None:
            self._write_lake(batch, table)
        self._maybe_crash("after_lake")
        self.dlq.confirm()
        batch, result, deltas = self._apply(good, batch, table)
        applied_ms = _now_ms()
        self._maybe_crash("after_redis")

        offsets = [TopicPartition(self.topic, p, c.next_offset) for p, c in sorted(batch.chunks.items())]
        self.consumer.store_offsets(offsets=offsets)
        self.consumer.commit(asynchronous=True)
        self._maybe_crash("after_commit")
        for p, c in batch.chunks.items():
            self.state[p] = PartitionState(Marker(self.incarnation, c.next_offset), c.next_offset)

        if table is not None:
            times = event_times_ms(table)
            self.delays.add(times, applied_ms)
            self.recent_delays.add(time.monotonic(), times, applied_ms)
        self.live.add(result, deltas.latest, deltas.max_event_time_ms)
        n_events, n_dead = batch.n_events, len(batch.dead)
        self.summary.events += n_events
        self.summary.dead_letters += n_dead
        self.summary.batches += 1
        self._batch_latency_ms = (time.perf_counter() - started) * 1000
        self.rate.add(time.monotonic(), n_events + n_dead)
        if n_dead:
            log.info("%d dead letter(s) sent to %s", n_dead, self.names.dlq_topic)
        if result.late_events:
            log.info("%d late event(s) (before the batch watermark)", result.late_events)
        return n_events

    # -- periodic duties -----------------------------------------------------

    def _publish_live(self) -> None:
        now = _now_ms()
        if self.live.due(now):
            self.sink.publish(self.live.take(now))

    def lags(self) -> dict[int, int]:
        tps = [TopicPartition(self.topic, p) for p in sorted(self.state)]
        if not tps:
            return {}
        highs = {}
        for tp in tps:
            _low, high = self.consumer.get_watermark_offsets(tp, cached=True)
            if high >= 0:
                highs[tp.partition] = high
        # position() is unknown until a partition's first message; our own marker is not.
        positions = {
            tp.partition: tp.offset if tp.offset >= 0 else (self.state[tp.partition].floor or 0)
            for tp in self.consumer.position(tps)
            if tp.partition in self.state
        }
        return lag(highs, positions)

    def _report(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_stats < self.options.stats_interval_s:
            return
        self._last_stats = now
        lags = self.lags()
        rate = self.rate.rate(now)
        p50, p99 = self.recent_delays.percentile(50), self.recent_delays.percentile(99)
        self.sink.write_stats(
            stats_fields(rate, self._batch_latency_ms, lags, format_event_time(_now_ms()), p50, p99)
        )
        if self.summary.batches:
            log.info(
                "%.0f events/s, batch %.1f ms, lag %s, delay p50 %s ms p99 %s ms, total %d events %d dlq",
                rate,
                self._batch_latency_ms,
                " ".join(f"p{p}={n}" for p, n in sorted(lags.items())) or "-",
                p50,
                p99,
                self.summary.events,
                self.summary.dead_letters,
            )

    # -- main loop -----------------------------------------------------------

    def stop(self, *_: Any) -> None:
        self.stop_event.set()

    def _next_messages(self, timeout: float) -> list[Any]:
        """The next batch: what is queued, up to the batch size; when nothing is, the first
        message to arrive within ``timeout`` and whatever came with it.

        A batch starts as soon as there is data and grows by itself with the load
        (while one batch is applied, the next queues up).  A small batch that would
        start sooner than ``min_batch_interval_ms`` after the previous one waits out
        the rest of that interval for more messages: each batch has a fixed cost
        (a lake file per partition, one Redis script, a commit) of a few
        milliseconds, which tiny back-to-back batches would pay hundreds of times
        a second at low rates.
        """
        size = self.options.batch_size
        messages = self.consumer.consume(size, 0)
        if not messages:
            first = self.consumer.poll(timeout)
            if first is None:
                return []
            messages = [first]
        if len(messages) < min(size, SMALL_BATCH):
            wait = self._last_batch_at + self.options.min_batch_interval_ms / 1000 - time.monotonic()
            if wait > 0:
                messages += self.consumer.consume(size - len(messages), wait)
        self._last_batch_at = time.monotonic()
        return messages

    def run(self) -> RunSummary:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)
        self.consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        log.info(
            "consuming %s as group %s (batch %d / %d ms)",
            self.topic,
            self.group,
            self.options.batch_size,
            self.options.batch_wait_ms,
        )
        # Start-up objects (catalogue, clients) are kept for life: moving them out of the
        # collector's generations keeps full collections from pausing a batch to scan them.
        gc.collect()
        gc.freeze()
        started = time.monotonic()
        last_data = time.monotonic()
        timeout = self.options.batch_wait_ms / 1000
        try:
            while not self.stop_event.is_set():
                messages = self._next_messages(timeout)
                if (messages and self.process(messages)) or messages:
                    last_data = time.monotonic()
                self._publish_live()
                self._report()
                if self.options.max_events is not None and self.summary.events >= self.options.max_events:
                    break
                idle = self.options.until_idle_s
                if (
                    idle is not None
                    and self.state
                    and time.monotonic() - last_data >= idle
                    and sum(self.lags().values()) == 0
                ):
                    log.info("idle for %.1f s with no lag: stopping", idle)
                    break
        finally:
            self.summary.seconds = time.monotonic() - started
            self.summary.delay_p50_ms = self.delays.percentile(50)
            self.summary.delay_p99_ms = self.delays.percentile(99)
            self._close()
        return self.summary

    def _close(self) -> None:
        try:
            if self.live.pending:
                self.sink.publish(self.live.take(_now_ms()))
            self._report(force=True)
        except redis.RedisError as exc:
            log.warning("final stats not written: %s", exc)
        try:
            self.consumer.commit(asynchronous=False)
        except Exception as exc:  # nothing stored since the last commit
            log.debug("final commit: %s", exc)
        self.consumer.close()
        self.dlq.close()
        self._writers.shutdown()
        log.info(
            "stopped after %.1f s: %d events, %d dead letters, %d batches, %d replayed skipped",
            self.summary.seconds,
            self.summary.events,
            self.summary.dead_letters,
            self.summary.batches,
            self.summary.replayed,
        )


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def event_times_ms(table: pa.Table) -> np.ndarray:
    return pc.cast(table.column("event_time"), pa.int64()).to_numpy()
