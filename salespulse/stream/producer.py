"""The live sales producer: simulated orders from the shared catalogue, paced, into Kafka.

Lines come from :mod:`salespulse.simulation` (the same model as the history
generator: multi-line orders, Zipf-like book popularity, regional and
channel mix, refunds), drawn in chunks and stamped with the time they are
sent, so they are live events.  Optionally some are made late (event time
hours or days back) or malformed (one of :data:`salespulse.stream.poison.KINDS`),
for tests and demos.  Delivery is idempotent and fully acknowledged
(:func:`salespulse.kafka.producer_config`); every failed delivery is counted
and reported.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import Producer

from salespulse import kafka as sp_kafka
from salespulse.events import SCHEMA, SaleEvent, encode, format_discount, format_event_time
from salespulse.metrics import REFUND
from salespulse.names import Names
from salespulse.reference import get_catalogue
from salespulse.settings import Settings, get_settings
from salespulse.simulation import TEXT_COLUMNS, orders_to_lines
from salespulse.stream import pacing
from salespulse.stream.poison import KINDS, malformed

log = logging.getLogger("salespulse.produce")

HOUR_MS = 3_600_000
#: Constructor order of :class:`SaleEvent` fields, by simulation column.
_EVENT_COLUMNS = (
    "event_id",
    "event_type",
    "event_time",
    "order_id",
    "line_no",
    "customer_id",
    "product_id",
    "quantity",
    "unit_price_cents",
    "discount_bp",
    "currency",
    "channel",
    "region",
    "payment_method",
)


@dataclass
class ProducerOptions:
    rate: float = 1000.0  # events/s; 0 = as fast as possible
    count: int | None = None
    duration_s: float | None = None
    seed: int | None = None
    refund_rate: float = 0.02
    late_ratio: float = 0.0
    late_min_hours: float = 1.0
    late_max_hours: float = 48.0
    malformed_ratio: float = 0.0
    topic: str | None = None
    progress_interval_s: float = 2.0
    #: Also produce the shopper interactions (views, carts, checkouts) behind each sale.
    interactions: bool = False


@dataclass
class ProduceSummary:
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    late: int = 0
    malformed: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


def live_order(rng: np.random.Generator, lines: dict[str, np.ndarray]) -> np.ndarray:
    """Send order of simulated lines: sales as drawn, each refund at a random later point.

    The simulation dates refunds hours to days after their sale (so they sort
    to the end of a chunk); a live stream stamps events when sent, so each
    refund is slotted in somewhere after its own sale instead.
    """
    n = len(lines["event_id"])
    key = np.arange(n, dtype=np.float64)
    refund = lines["event_type"] == REFUND
    if refund.any():
        sale_pos = {
            (o, ln): i
            for i, (o, ln) in enumerate(
                zip(lines["order_id"].tolist(), lines["line_no"].tolist(), strict=True)
            )
            if not refund[i]
        }
        for i in np.flatnonzero(refund):
            start = sale_pos.get((lines["order_id"][i], int(lines["line_no"][i])), 0)
            key[i] = start + 0.5 + rng.random() * (n - start)
    return np.argsort(key, kind="stable")


#: Identifiers the wire template may write without JSON escaping (the simulation's own alphabet).
_PLAIN_TEXT = re.compile(r"^[!#-\[\]-~]*$")  # printable ASCII, no space, quote or backslash


@dataclass(frozen=True, slots=True)
class WireLine:
    """One simulated line, pre-encoded around its event time (stamped when it is sent).

    ``head + event_time + tail`` is byte for byte ``events.encode`` of the
    line's event (a unit test holds it to that), built once per chunk so the
    send loop does one concatenation per message instead of a JSON encode.
    """

    key: bytes
    head: bytes
    tail: bytes
    row: tuple[Any, ...]

    def value(self, event_time: bytes) -> bytes:
        return self.head + event_time + self.tail

    def event(self, event_time_ms: int) -> SaleEvent:
        row = self.row
        return SaleEvent(row[0], row[1], event_time_ms, *row[3:])


def _join(*parts: str | pa.Array) -> pa.Array:
    """Element-wise concatenation of string columns and literals, in Arrow (no Python per row)."""
    return pc.binary_join_element_wise(*parts, "")


def _text(values: list[Any]) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _wire_lines(columns: dict[str, list[Any]]) -> list[WireLine]:
    """Pre-encode simulated rows; a chunk with text that needs escaping goes through ``encode`` instead."""
    rows = list(zip(*(columns[c] for c in _EVENT_COLUMNS), strict=True))
    if not all(_PLAIN_TEXT.match("".join(columns[c])) for c in TEXT_COLUMNS):
        out = []
        for r in rows:
            head, _, rest = encode(SaleEvent(r[0], r[1], 0, *r[3:])).partition(b'"event_time":"')
            out.append(WireLine(r[3].encode(), head + b'"event_time":"', rest[rest.index(b'"') :], r))
        return out
    c = {name: pa.array(values) for name, values in columns.items()}
    cents = np.asarray(columns["unit_price_cents"], np.int64)
    price = _join(_text((cents // 100).tolist()), ".", pc.utf8_lpad(_text((cents % 100).tolist()), 2, "0"))
    bps = sorted(set(columns["discount_bp"]))
    discount = pc.take(
        pa.array([orjson.dumps(format_discount(bp)).decode() for bp in bps]),
        pc.index_in(c["discount_bp"], pa.array(bps)),
    )
    heads = _join(
        f'{{"schema":"{SCHEMA}","event_id":"',
        c["event_id"],
        '","event_type":"',
        c["event_type"],
        '","event_time":"',
    )
    tails = _join(
        '","order_id":"',
        c["order_id"],
        '","line_no":',
        _text(columns["line_no"]),
        ',"customer_id":"',
        c["customer_id"],
        '","product_id":"',
        c["product_id"],
        '","quantity":',
        _text(columns["quantity"]),
        ',"unit_price":"',
        price,
        '","discount":',
        discount,
        ',"currency":"',
        c["currency"],
        '","channel":"',
        c["channel"],
        '","region":"',
        c["region"],
        '","payment_method":"',
        c["payment_method"],
        '"}',
    )
    keys = pc.cast(c["order_id"], pa.binary()).to_pylist()
    head_bytes = pc.cast(heads, pa.binary()).to_pylist()
    tail_bytes = pc.cast(tails, pa.binary()).to_pylist()
    return [WireLine(*line) for line in zip(keys, head_bytes, tail_bytes, rows, strict=True)]


class LineSource:
    """Simulated lines, drawn from the simulation in chunks and handed out one by one."""

    def __init__(self, rng: np.random.Generator, settings: Settings, refund_rate: float, chunk_orders: int):
        self.rng = rng
        self.catalogue = get_catalogue(settings)
        self.refund_rate = refund_rate
        self.chunk_orders = chunk_orders
        self.lines: deque[WireLine] = deque()

    def _refill(self) -> None:
        times = np.zeros(self.chunk_orders, np.int64)  # stamped at send time
        lines = orders_to_lines(self.rng, self.catalogue, times, self.refund_rate)
        order = live_order(self.rng, lines)
        self.lines.extend(_wire_lines({c: lines[c][order].tolist() for c in _EVENT_COLUMNS}))

    def take_lines(self, n: int) -> list[WireLine]:
        while len(self.lines) < n:
            self._refill()
        popleft = self.lines.popleft
        return [popleft() for _ in range(n)]

    def take(self, n: int, event_time_ms: int) -> list[SaleEvent]:
        return [line.event(event_time_ms) for line in self.take_lines(n)]


class SalesProducer:
    def __init__(self, settings: Settings | None = None, options: ProducerOptions | None = None):
        self.settings = settings or get_settings()
        self.options = options or ProducerOptions()
        names = Names.from_settings(self.settings)
        self.topic = self.options.topic or names.sales_topic
        sp_kafka.ensure_topics({self.topic: self.settings.partitions}, self.settings)
        self.producer = Producer(sp_kafka.producer_config(self.settings))
        seed = self.options.seed if self.options.seed is not None else time.time_ns() % 2**32
        self.rng = np.random.default_rng(seed)
        chunk = max(200, int(self.options.rate / 2) if self.options.rate > 0 else 20_000)
        self.lines = LineSource(self.rng, self.settings, self.options.refund_rate, chunk)
        self.summary = ProduceSummary()
        self.stop_event = threading.Event()
        self._kinds = list(KINDS)
        self.interactions_topic = names.interactions_topic if self.options.interactions else None
        if self.interactions_topic:
            sp_kafka.ensure_topics({self.interactions_topic: self.settings.partitions}, self.settings)
            # Its own generator: the sales drawn are the same with or without interactions.
            self.interactions_rng = np.random.default_rng(seed + 1)
        self._failures: list[str] = []
        self._stamp_second = -1
        self._stamp_prefix = b""

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is None:
            self.summary.delivered += 1
        else:
            self.summary.failed += 1
            if len(self._failures) < 5:
                self._failures.append(str(err))

    def _stamp(self, now_ms: int) -> bytes:
        """``format_event_time`` as bytes, re-formatting the date and time only once a second."""
        second, millis = divmod(now_ms, 1000)
        if second != self._stamp_second:
            self._stamp_second = second
            self._stamp_prefix = format_event_time(second * 1000)[:-4].encode()  # up to "SS."
        return b"%s%03dZ" % (self._stamp_prefix, millis)

    def _payloads(self, lines: list[WireLine], now_ms: int) -> list[tuple[bytes, bytes]]:
        """(key, value) per line, with the configured share made late or malformed."""
        o = self.options
        now = self._stamp(now_ms)
        if o.late_ratio <= 0 and o.malformed_ratio <= 0:
            return [(line.key, line.head + now + line.tail) for line in lines]
        n = len(lines)
        late = self.rng.random(n) < o.late_ratio if o.late_ratio > 0 else None
        bad = self.rng.random(n) < o.malformed_ratio if o.malformed_ratio > 0 else None
        out = []
        for i, line in enumerate(lines):
            event_time_ms, stamp = now_ms, now
            if late is not None and late[i]:
                back = self.rng.uniform(o.late_min_hours, o.late_max_hours) * HOUR_MS
                event_time_ms = now_ms - int(back)
                stamp = format_event_time(event_time_ms).encode()
                self.summary.late += 1
            if bad is not None and bad[i]:
                kind = self._kinds[self.summary.malformed % len(self._kinds)]
                self.summary.malformed += 1
                out.append((line.key, malformed(kind, line.event(event_time_ms))))
            else:
                out.append((line.key, line.value(stamp)))
        return out

    def _produce_interactions(self, events: list[SaleEvent]) -> None:
        """The interactions that led to these sales, onto the interactions topic (oldest first)."""
        from salespulse.interactions.simulate import interactions_for_lines

        lines = {
            "event_type": np.array([e.event_type for e in events]),
            "event_time": np.array([e.event_time_ms for e in events], np.int64),
            "order_id": np.array([e.order_id for e in events]),
            "line_no": np.array([e.line_no for e in events], np.int64),
            "customer_id": np.array([e.customer_id for e in events]),
            "product_id": np.array([e.product_id for e in events]),
            "channel": np.array([e.channel for e in events]),
            "region": np.array([e.region for e in events]),
        }
        for value in interactions_for_lines(self.interactions_rng, self.lines.catalogue, lines):
            while True:
                try:
                    self.producer.produce(self.interactions_topic, value, on_delivery=self._on_delivery_side)
                    break
                except BufferError:
                    self.producer.poll(0.05)

    def _on_delivery_side(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.summary.failed += 1
            if len(self._failures) < 5:
                self._failures.append(f"interactions: {err}")

    def _produce(self, key: bytes, value: bytes) -> None:
        while True:
            try:
                self.producer.produce(self.topic, value, key=key, on_delivery=self._on_delivery)
                return
            except BufferError:  # local queue full: let deliveries drain
                self.producer.poll(0.05)

    def stop(self, *_: Any) -> None:
        self.stop_event.set()

    def run(self) -> ProduceSummary:
        o = self.options
        total = o.count
        start = time.monotonic()
        last_progress = start
        max_burst = 5000 if o.rate <= 0 else max(1, min(5000, int(o.rate * 0.01) + 1))
        log.info(
            "producing to %s at %s events/s (%s)",
            self.topic,
            f"{o.rate:g}" if o.rate > 0 else "max",
            f"{total} events"
            if total is not None
            else f"{o.duration_s} s"
            if o.duration_s
            else "until stopped",
        )
        sent = 0
        while not self.stop_event.is_set():
            elapsed = time.monotonic() - start
            if (total is not None and sent >= total) or (
                o.duration_s is not None and elapsed >= o.duration_s
            ):
                break
            n = pacing.due(elapsed, o.rate, sent, total, max_burst)
            if n:
                now_ms = time.time_ns() // 1_000_000
                lines = self.lines.take_lines(n)
                for key, value in self._payloads(lines, now_ms):
                    self._produce(key, value)
                if self.interactions_topic:
                    self._produce_interactions([line.event(now_ms) for line in lines])
                sent += n
                self.summary.sent = sent
                self.producer.poll(0)
            else:
                # At least one tick: at high rates, events due within it leave together.
                self.producer.poll(0)
                time.sleep(max(pacing.TICK_S, pacing.sleep_for(elapsed, o.rate, sent)))
            now = time.monotonic()
            if now - last_progress >= o.progress_interval_s:
                last_progress = now
                log.info(
                    "sent %d (%.0f events/s), delivered %d, failed %d",
                    sent,
                    sent / max(now - start, 1e-9),
                    self.summary.delivered,
                    self.summary.failed,
                )
        remaining = self.producer.flush(60)
        self.summary.seconds = time.monotonic() - start
        if remaining:
            self.summary.failed += remaining
            self._failures.append(f"{remaining} message(s) still undelivered after 60 s")
        log.info(
            "done: sent %d in %.1f s (%.0f events/s), delivered %d, failed %d, late %d, malformed %d",
            self.summary.sent,
            self.summary.seconds,
            self.summary.rate,
            self.summary.delivered,
            self.summary.failed,
            self.summary.late,
            self.summary.malformed,
        )
        if self._failures:
            log.error("delivery failures: %s", self._failures)
        return self.summary
