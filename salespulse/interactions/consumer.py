"""The funnel consumer: ``interaction.v1`` batches into the DLQ, the lake and Redis, then commits.

Per batch, in this order (the sales consumer's order, for the same reasons):

1. decode and validate every message (:func:`contract.decode`);
2. send the invalid ones to ``<interactions topic>.dlq`` with their reasons
   (delivery confirmed before going on);
3. write the valid ones to the raw zone, one file per partition chunk and date;
4. apply the funnel counts and the progress markers in one atomic Redis script;
5. store and commit the offsets.

A crash between steps replays the batch: Redis skips what its markers cover,
and lake files at or beyond a marker are deleted at assignment and rewritten.
The pure parts (splitting a batch, counting) are separate functions so they
are tested without a broker.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicCollection, TopicPartition

from salespulse import kafka as sp_kafka
from salespulse.interactions import sinks
from salespulse.interactions.contract import Interaction, InvalidInteraction, decode
from salespulse.interactions.funnel import count
from salespulse.names import Names
from salespulse.reference import get_catalogue
from salespulse.services import urls
from salespulse.settings import Settings, get_settings
from salespulse.stream.progress import Marker, resume

log = logging.getLogger("salespulse.consume_interactions")

GROUP = "salespulse-funnel"
MAX_CONFLICT_RETRIES = 5


def dlq_topic(names: Names) -> str:
    """Dead letters of the interactions topic: ``<topic>.dlq``."""
    return names.interactions_topic + ".dlq"


@dataclass
class Chunk:
    """The messages of one partition in a batch: offsets ``first..last``."""

    first: int
    last: int
    good: list[tuple[int, Interaction]] = field(default_factory=list)
    bad: list[tuple[int, bytes | None, list[str]]] = field(default_factory=list)


@dataclass
class Batch:
    chunks: dict[int, Chunk] = field(default_factory=dict)
    replayed: int = 0

    @property
    def good(self) -> list[Interaction]:
        return [i for p in sorted(self.chunks) for _, i in self.chunks[p].good]

    def origins(self, topic: str) -> list[str]:
        return [f"{topic}/{p}/{o}" for p in sorted(self.chunks) for o, _ in self.chunks[p].good]


def split(messages: Sequence[Any], floors: Mapping[int, int | None]) -> Batch:
    """Group messages by partition, dropping offsets below the partition's floor (already applied)
    and partitions this consumer does not own; decode each one."""
    batch = Batch()
    for msg in messages:
        p, offset = msg.partition(), msg.offset()
        if p not in floors:
            continue
        floor = floors[p]
        if floor is not None and offset < floor:
            batch.replayed += 1
            continue
        chunk = batch.chunks.get(p)
        if chunk is None:
            chunk = batch.chunks[p] = Chunk(offset, offset)
        chunk.first, chunk.last = min(chunk.first, offset), max(chunk.last, offset)
        try:
            chunk.good.append((offset, decode(msg.value())))
        except InvalidInteraction as exc:
            chunk.bad.append((offset, msg.value(), exc.reasons))
    return batch


@dataclass
class Options:
    """Knobs of one funnel consumer (the CLI flags)."""

    topic: str | None = None
    group: str | None = None
    batch_size: int = 5000
    batch_wait_s: float = 0.2
    until_idle_s: float | None = None
    max_events: int | None = None
    assign: bool = False  # read every partition without joining the group (single instance)


@dataclass
class Summary:
    events: int = 0
    invalid: int = 0
    batches: int = 0
    replayed: int = 0
    conflicts: int = 0
    seconds: float = 0.0


class FunnelConsumer:
    """One member of the funnel consumer group; :meth:`run` loops until stopped, idle or done."""

    def __init__(self, settings: Settings | None = None, options: Options | None = None):
        self.settings = settings or get_settings()
        self.options = options or Options()
        self.names = Names.from_settings(self.settings)
        self.topic = self.options.topic or self.names.interactions_topic
        self.group = self.options.group or self.names.topic_prefix + GROUP
        self.dlq_topic = dlq_topic(self.names)
        sp_kafka.ensure_topics({self.topic: self.settings.partitions, self.dlq_topic: 1}, self.settings)
        self.consumer = Consumer(
            sp_kafka.consumer_config(
                self.group,
                self.settings,
                **{"session.timeout.ms": 6000, "heartbeat.interval.ms": 1500, "fetch.wait.max.ms": 100},
            )
        )
        self.producer = Producer(sp_kafka.producer_config(self.settings, **{"linger.ms": 0}))
        self.admin = sp_kafka.admin(self.settings)
        client = redis.Redis.from_url(urls(self.settings).redis, decode_responses=True)
        self.sink = sinks.FunnelRedisSink(client, self.names)
        self.genre_of = get_catalogue(self.settings).genre_of()
        self.raw_dir = sinks.raw_dir(self.names)
        self.expected: dict[int, Marker] = {}
        self.floors: dict[int, int | None] = {}
        self.incarnation = ""
        self.summary = Summary()
        self.stop_event = threading.Event()
        self._assigned_at = 0.0

    # -- assignment ------------------------------------------------------------------

    def topic_id(self) -> str:
        """The topic's id (changes when the topic is recreated); ``""`` if the broker has none."""
        try:
            future = self.admin.describe_topics(TopicCollection([self.topic]))[self.topic]
            return str(future.result(timeout=15).topic_id)
        except Exception as exc:
            log.warning("cannot read the id of %s (%s); recreation will not be detected", self.topic, exc)
            return ""

    def _positions(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        """Where each partition resumes: its progress marker first, then the committed offset."""
        self.incarnation = self.topic_id()
        self._assigned_at = time.monotonic()
        ids = [tp.partition for tp in partitions]
        markers = self.sink.read_markers(self.topic, ids)
        committed = {tp.partition: tp.offset for tp in self.consumer.committed(partitions, timeout=15)}
        for tp in partitions:
            p = tp.partition
            r = resume(markers[p], self.incarnation, committed.get(p))
            if r.new_incarnation:
                log.warning(
                    "topic %s was recreated: partition %d is read again from its start", self.topic, p
                )
                tp.offset, floor = OFFSET_BEGINNING, 0
            elif r.start_offset is not None:
                tp.offset = floor = r.start_offset
            else:
                floor, _ = self.consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=15)
            sinks.remove_orphans(self.raw_dir, self.topic, p, self.incarnation, max(floor, 0))
            self.expected[p] = r.expected
            self.floors[p] = r.applied_floor
        return partitions

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        consumer.assign(self._positions(partitions))
        log.info("assigned %s%s", self.topic, sorted(tp.partition for tp in partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.expected.pop(tp.partition, None)
            self.floors.pop(tp.partition, None)

    def start(self) -> None:
        if self.options.assign:
            meta = self.consumer.list_topics(self.topic, timeout=15).topics[self.topic]
            parts = [TopicPartition(self.topic, p) for p in sorted(meta.partitions)]
            self.consumer.assign(self._positions(parts))
        else:
            self.consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)

    # -- one batch -----------------------------------------------------------------------

    def _send_dead_letters(self, batch: Batch) -> int:
        sent = 0
        for p, chunk in sorted(batch.chunks.items()):
            for offset, value, reasons in chunk.bad:
                headers = [
                    ("reason", "; ".join(reasons)[:1000].encode()),
                    ("source", f"{self.topic}/{p}/{offset}".encode()),
                ]
                self.producer.produce(self.dlq_topic, value=value, headers=headers)
                sent += 1
        if sent and self.producer.flush(30) > 0:
            raise RuntimeError("dead letters not delivered within 30 s; the batch will be replayed")
        return sent

    def _write_lake(self, batch: Batch) -> None:
        now = _now_ms()
        for p, chunk in sorted(batch.chunks.items()):
            if chunk.good:
                items = [i for _, i in chunk.good]
                origins = [f"{self.topic}/{p}/{o}" for o, _ in chunk.good]
                name = sinks.file_name(self.topic, p, chunk.first, chunk.last, self.incarnation)
                sinks.write_chunk(sinks.to_table(items, origins, now), self.raw_dir, name)

    def _sync_markers(self, partitions: list[int]) -> None:
        """Adopt markers that moved since this consumer last looked (another member or an earlier
        life of this one applied them): offsets below them are skipped, not written twice."""
        for p, m in self.sink.read_markers(self.topic, partitions).items():
            if m != self.expected.get(p):
                self.expected[p] = m
                self.floors[p] = m.next_offset if m.incarnation == self.incarnation else None

    def process(self, messages: Sequence[Any]) -> int:
        """Run one consumed batch through every sink; returns the number of valid interactions applied."""
        ok = []
        for msg in messages:
            err = msg.error()
            if err is None:
                ok.append(msg)
            elif err.code() != KafkaError._PARTITION_EOF:
                log.warning("consume error: %s", err)
        owned = sorted({m.partition() for m in ok if m.partition() in self.floors})
        if not owned:
            return 0
        invalid = 0
        for attempt in range(MAX_CONFLICT_RETRIES):
            self._sync_markers(owned)
            batch = split(ok, self.floors)
            if not batch.chunks:
                self.summary.replayed += batch.replayed
                return 0
            if attempt == 0:
                invalid = self._send_dead_letters(batch)
            self._write_lake(batch)
            updates = [
                sinks.ProgressUpdate(p, self.expected[p], Marker(self.incarnation, c.last + 1))
                for p, c in sorted(batch.chunks.items())
            ]
            conflicts = self.sink.apply(
                count(batch.good, self.genre_of), self.topic, updates, invalid, _now_iso()
            )
            if not conflicts:
                self.summary.replayed += batch.replayed
                break
            self.summary.conflicts += 1
            log.warning("progress marker moved under this consumer (%s); re-reading", conflicts)
        else:
            raise RuntimeError(f"batch not applied after {MAX_CONFLICT_RETRIES} marker conflicts")
        offsets = []
        for p, chunk in batch.chunks.items():
            self.expected[p] = Marker(self.incarnation, chunk.last + 1)
            self.floors[p] = chunk.last + 1
            offsets.append(TopicPartition(self.topic, p, chunk.last + 1))
        self.consumer.store_offsets(offsets=offsets)
        try:
            self.consumer.commit(asynchronous=False)
        except Exception as exc:  # the markers hold; a commit is only a resume hint
            log.warning("offset commit failed (progress markers still hold): %s", exc)
        good = len(batch.good)
        self.summary.events += good
        self.summary.invalid += invalid
        self.summary.batches += 1
        return good

    # -- loop ------------------------------------------------------------------------------

    def run(self) -> Summary:
        started = time.monotonic()
        last_data = started
        self.start()
        try:
            while not self.stop_event.is_set():
                messages = self.consumer.consume(self.options.batch_size, self.options.batch_wait_s)
                if messages and any(m.error() is None for m in messages):
                    self.process(messages)
                    last_data = time.monotonic()
                elif self._idle(last_data):
                    break
                if self.options.max_events is not None and self.summary.events >= self.options.max_events:
                    break
        finally:
            self.summary.seconds = time.monotonic() - started
            self.consumer.close()
            self.producer.flush(10)
        return self.summary

    def _idle(self, last_data: float) -> bool:
        """Idle long enough to stop (counted from the assignment: a group join can take a while)."""
        if self.options.until_idle_s is None or not self.floors:
            return False
        return time.monotonic() - max(last_data, self._assigned_at) >= self.options.until_idle_s

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stop_event.set())


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
