"""Kafka side of the capture: headers, an ordered idempotent producer, and the tail read-back.

Exactly once without broker transactions.  Every message carries the commit
LSN of its database transaction and its position among that commit's events.
The capture confirms an LSN to the replication slot only after the broker
acknowledged every event up to it, so after a crash PostgreSQL replays from
the last confirmed commit; on start-up the capture reads the tail of the
topic back and skips exactly the ``(lsn, position)`` pairs already there.

Why this works: the producer is idempotent with ``enable.gapless.guarantee``,
so what reached a partition in one session is a prefix of what was sent to
it, and sessions send in commit order; each partition's messages are
therefore ordered by ``(lsn, position)``, and reading a partition backwards
until the first message older than the confirmed LSN finds every message
that a replay could duplicate.  This works on any Kafka-protocol broker
(Tansu included, which does support transactions, but a read-back is needed
after a crash between the broker commit and the slot confirmation anyway).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, Producer, TopicPartition

from salespulse.cdc.pgoutput import format_lsn, parse_lsn
from salespulse.kafka import bootstrap, producer_config
from salespulse.settings import Settings

log = logging.getLogger(__name__)

#: Header names.  ``cdc-lsn`` (commit LSN, PostgreSQL notation) doubles as the
#: global commit sequence: LSNs increase in commit order across all partitions.
H_LSN = "cdc-lsn"
H_POS = "cdc-pos"
H_COUNT = "cdc-count"
H_XID = "cdc-xid"
H_SOURCE = "cdc-source"

Position = tuple[int, int]  # (commit LSN, position within the commit)


Headers = list[tuple[str, str | bytes | None]]


def make_headers(source: str, xid: int, commit_lsn: int, pos: int, count: int) -> Headers:
    return [
        (H_LSN, format_lsn(commit_lsn).encode()),
        (H_POS, str(pos).encode()),
        (H_COUNT, str(count).encode()),
        (H_XID, str(xid).encode()),
        (H_SOURCE, source.encode()),
    ]


def header_map(headers: Headers | dict[str, str | bytes | None] | None) -> dict[str, str]:
    """Kafka headers (as confluent-kafka returns them) -> ``{name: text}``."""
    items = headers.items() if isinstance(headers, dict) else (headers or [])
    return {k: v.decode("utf-8", "replace") if isinstance(v, bytes) else (v or "") for k, v in items}


def position_of(headers: Headers | dict[str, str | bytes | None] | None, source: str) -> Position | None:
    """``(lsn, pos)`` of a CDC message from ``source``; ``None`` for anything else on the topic
    (simulated sales share it, and so may another database's capture)."""
    h = header_map(headers)
    if h.get(H_SOURCE) != source or H_LSN not in h or H_POS not in h:
        return None
    try:
        return parse_lsn(h[H_LSN]), int(h[H_POS])
    except ValueError:
        return None


class DeliveryError(RuntimeError):
    """The broker did not take an event: the batch must not be confirmed."""


@dataclass
class Publisher:
    """Ordered, idempotent producer; :meth:`flush` raises if any message failed."""

    settings: Settings
    topic: str
    _errors: list[str] = field(default_factory=list)
    _producer: Producer | None = None

    def __post_init__(self) -> None:
        config = producer_config(
            self.settings,
            **{
                # A failed batch must stop the session, never leave a hole that later
                # messages of the same partition jump over (see module docstring) ...
                "enable.gapless.guarantee": True,
                # ... and no message may expire either (the guarantee does not cover
                # timeouts): while the broker is away the capture waits, it never drops.
                "message.timeout.ms": 0,
                "linger.ms": 2,
                "logger": logging.getLogger("salespulse.cdc.kafka"),
            },
        )
        self._producer = Producer(config)

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._errors.append(str(err))

    def produce(self, key: str, value: bytes, headers: Headers) -> None:
        assert self._producer is not None
        while True:
            try:
                self._producer.produce(
                    self.topic, value=value, key=key.encode(), headers=headers, on_delivery=self._on_delivery
                )
                break
            except BufferError:
                self._producer.poll(0.05)  # local queue full: let deliveries drain
        self._producer.poll(0)

    def flush(self) -> None:
        """Wait until the broker acknowledged every event; raise if any failed."""
        assert self._producer is not None
        waited = 0.0
        while (remaining := self._producer.flush(10.0)) > 0:
            waited += 10.0
            log.warning("%d events still waiting for the broker after %.0fs", remaining, waited)
        if self._errors:
            errors, self._errors = self._errors, []
            raise DeliveryError(f"{len(errors)} events failed: {errors[0]}")


def published_since(
    settings: Settings, topic: str, source: str, since_lsn: int, chunk: int = 2000
) -> set[Position]:
    """Every ``(lsn, pos)`` of ``source`` already on ``topic`` with ``lsn >= since_lsn``.

    Reads each partition backwards in chunks from its end until a chunk holds
    an older CDC message of this source (or the partition's start).  Uses
    ``assign()``: no consumer group, nothing committed.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap(settings),
            "group.id": f"salespulse-cdc-readback-{source}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 20,  # end-of-partition is what we wait for: learn it fast
            "logger": logging.getLogger("salespulse.cdc.kafka"),
        }
    )
    found: set[Position] = set()
    try:
        meta = consumer.list_topics(topic, timeout=30).topics[topic]
        for partition in sorted(meta.partitions):
            low, listed_high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
            end = _true_end(consumer, topic, partition, max(low, listed_high))
            while end > low:
                start = max(low, end - chunk)
                positions = _read(consumer, topic, partition, start, end, source)[0]
                found.update(p for p in positions if p[0] >= since_lsn)
                if any(p[0] < since_lsn for p in positions):
                    break
                end = start
    finally:
        consumer.close()
    return found


def _true_end(consumer: Consumer, topic: str, partition: int, listed_high: int) -> int:
    """The partition's real end offset, read up to end-of-partition from the listed one.

    Some brokers (Tansu 0.6 with memory storage) answer ListOffsets with the
    last batch's base offset + 1 instead of the high watermark; the fetch's
    end-of-partition event carries the true one.
    """
    return _read(consumer, topic, partition, listed_high, None, None)[1]


def _read(
    consumer: Consumer, topic: str, partition: int, start: int, end: int | None, source: str | None
) -> tuple[list[Position], int]:
    """CDC positions in offsets ``[start, end)`` (``end=None``: to end of partition), and where it stopped."""
    consumer.assign([TopicPartition(topic, partition, start if start > 0 else OFFSET_BEGINNING)])
    positions: list[Position] = []
    next_offset = start
    deadline = time.monotonic() + 60
    while end is None or next_offset < end:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{topic}[{partition}]: read-back stuck at offset {next_offset}")
        for msg in consumer.consume(num_messages=1000, timeout=0.2):
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    return positions, int(msg.offset() or next_offset)
                raise RuntimeError(f"read-back of {topic}[{partition}] failed: {err}")
            offset = int(msg.offset() or 0)
            if end is not None and offset >= end:
                return positions, offset
            next_offset = offset + 1
            if source is not None:
                pos = position_of(msg.headers(), source)
                if pos is not None:
                    positions.append(pos)
    return positions, next_offset
