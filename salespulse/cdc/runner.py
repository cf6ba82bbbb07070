"""The capture loop: slot -> transactions -> sale.v1 events -> Kafka -> confirm.

Order of operations, which is what makes it exactly once and resumable:

1. on start, read the slot's confirmed LSN ``C`` and read back which
   ``(lsn, pos)`` pairs with ``lsn >= C`` are already on the topic;
2. stream committed transactions from ``C`` (PostgreSQL replays everything
   not yet confirmed, in commit order), map each to events and produce the
   ones not already on the topic, keyed by order id (one order's events stay
   in one partition, in order);
3. every batch (a few hundred ms or a few thousand events): flush the
   producer, and only when every event is acknowledged confirm the batch's
   last commit end LSN to the slot and record it in the state table.

A crash anywhere loses nothing (unconfirmed commits are replayed) and
duplicates nothing (replayed events already on the topic are skipped).
"""

from __future__ import annotations

import contextlib
import logging
import select
import time
from dataclasses import dataclass, field

import psycopg2
import psycopg2.extras

from salespulse import events
from salespulse.cdc import mapping, pgoutput, publisher, source
from salespulse.cdc.transactions import Transaction, TransactionAssembler
from salespulse.kafka import ensure_topics
from salespulse.names import Names
from salespulse.services import urls
from salespulse.settings import Settings, get_settings

log = logging.getLogger("salespulse.cdc")


@dataclass
class CaptureOptions:
    once: bool = False  # stop when caught up with the WAL as of start-up
    idle_timeout: float | None = None  # stop after this many seconds without a transaction
    batch_ms: int = 200  # longest time an event waits before the producer is flushed
    confirm_ms: int = 1000  # confirm flushed commits to the slot at most this often
    batch_events: int = 5000
    log_every_s: float = 5.0
    state_every_s: float = 1.0


@dataclass
class CaptureStats:
    commits: int = 0
    events_published: int = 0
    events_skipped: int = 0
    invalid_events: int = 0
    confirmed_lsn: int = 0
    started_at: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started_at, 1e-9)
        return (
            f"commits={self.commits} ({self.commits / elapsed:.1f}/s) "
            f"events={self.events_published} ({self.events_published / elapsed:.1f}/s) "
            f"skipped={self.events_skipped} invalid={self.invalid_events} "
            f"confirmed={pgoutput.format_lsn(self.confirmed_lsn)}"
        )


class Capture:
    """One capture session over one database's slot; :meth:`run` until stopped."""

    def __init__(self, settings: Settings | None = None, options: CaptureOptions | None = None):
        self.settings = settings or get_settings()
        self.options = options or CaptureOptions()
        self.database_url = urls(self.settings).database
        self.database = source.database_name(self.database_url)
        self.slot = source.slot_name(self.database)
        self.source_id = self.database  # part of event ids and the cdc-source header
        self.topic = Names.from_settings(self.settings).sales_topic
        self.stats = CaptureStats()
        self.stop_requested = False
        self.directory = mapping.Directory()
        self.assembler = TransactionAssembler()
        self._already: set[publisher.Position] = set()
        self._already_max = 0
        # Produced but not yet confirmed: end LSN of the last such commit, and counters.
        self._pending_end = 0
        self._pending_since: float | None = None
        self._pending_events = 0
        self._pending_published = 0
        self._pending_skipped = 0
        self._last_commit_ms: int | None = None
        # Confirmed but not yet added to the state table's counters: (published, skipped).
        self._unstored = (0, 0)
        self._last_state_write = 0.0
        self._last_idle_confirm = 0.0
        self._flushed_end = 0  # end LSN of the last commit whose events the broker has
        self._last_confirm = 0.0

    # -- set-up ------------------------------------------------------------
    def _start(self) -> None:
        self.conn = source.connect(self.database_url)
        source.ensure_capture_setup(self.conn)
        info = source.ensure_slot(self.conn, self.slot)
        ensure_topics({self.topic: self.settings.partitions}, self.settings)
        self.stats.confirmed_lsn = info.confirmed_lsn
        self._already = publisher.published_since(
            self.settings, self.topic, self.source_id, info.confirmed_lsn
        )
        self._already_max = max((lsn for lsn, _ in self._already), default=0)
        self.target_lsn = source.current_insert_lsn(self.conn) if self.options.once else None
        log.info(
            "capture %s: slot %s at %s, topic %s, %d events past it already published%s",
            self.database,
            self.slot,
            pgoutput.format_lsn(info.confirmed_lsn),
            self.topic,
            len(self._already),
            f", stopping at {pgoutput.format_lsn(self.target_lsn)}" if self.target_lsn else "",
        )
        self.publisher = publisher.Publisher(self.settings, self.topic)
        self.repl = source.replication_connection(self.database_url)
        self.cursor = self.repl.cursor()
        self._start_replication()

    def _start_replication(self, timeout: float = 30.0) -> None:
        """Start streaming; a killed predecessor's walsender may hold the slot for a moment."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.cursor.start_replication(
                    slot_name=self.slot,
                    decode=False,
                    options={"proto_version": "1", "publication_names": source.PUBLICATION},
                    status_interval=5,
                )
                return
            except psycopg2.errors.ObjectInUse:
                if time.monotonic() > deadline:
                    raise
                log.info("slot %s still active (a previous capture exiting?); retrying", self.slot)
                self.repl.close()
                time.sleep(0.5)
                self.repl = source.replication_connection(self.database_url)
                self.cursor = self.repl.cursor()

    # -- per transaction ---------------------------------------------------
    def _resolve(self, deltas: list[mapping.LineDelta]) -> None:
        orders, books = mapping.missing_orders_and_books(self.directory, deltas)
        self.directory.orders.update(source.load_orders(self.conn, orders))
        self.directory.books.update(source.load_books(self.conn, books))
        order_pks = {s.order_pk for d in deltas for s in (d.before, d.after) if s is not None}
        customers = mapping.missing_customers(self.directory, order_pks)
        self.directory.customers.update(source.load_customers(self.conn, customers))

    def handle(self, tx: Transaction) -> None:
        truncated = mapping.truncated_tables(tx)
        if truncated:
            log.warning(
                "TRUNCATE of %s at %s: no row images, no events",
                truncated,
                pgoutput.format_lsn(tx.commit_lsn),
            )
        self.directory.trim()
        mapping.absorb(self.directory, tx.changes)
        deltas = mapping.net_line_deltas(tx.changes)
        if deltas:
            self._resolve(deltas)
        sale_events = mapping.transaction_events(self.source_id, tx, deltas, self.directory)
        for pos, event in enumerate(sale_events):
            if tx.commit_lsn <= self._already_max and (tx.commit_lsn, pos) in self._already:
                self._pending_skipped += 1
                continue
            payload = event.to_payload()
            reasons = events.validate(payload)
            if reasons:
                # Published anyway: the stream consumer dead-letters it with these reasons.
                self.stats.invalid_events += 1
                log.warning("event %s of %s is invalid: %s", pos, pgoutput.format_lsn(tx.commit_lsn), reasons)
            self.publisher.produce(
                event.order_id,
                events.encode(event),
                publisher.make_headers(self.source_id, tx.xid, tx.commit_lsn, pos, len(sale_events)),
            )
            self._pending_published += 1
        self._pending_events += len(sale_events)
        self._pending_end = tx.end_lsn
        self._last_commit_ms = tx.commit_time_ms
        self.stats.commits += 1
        if self._pending_since is None:
            self._pending_since = time.monotonic()

    # -- flush and confirm ----------------------------------------------------
    def flush(self) -> None:
        """Wait until the broker has every produced event; the batch is then confirmable."""
        self.publisher.flush()
        self._flushed_end = self._pending_end
        self.stats.events_published += self._pending_published
        self.stats.events_skipped += self._pending_skipped
        self._unstored = (
            self._unstored[0] + self._pending_published,
            self._unstored[1] + self._pending_skipped,
        )
        self._pending_published = self._pending_skipped = self._pending_events = 0
        self._pending_since = None

    def confirm(self, force: bool = False) -> None:
        """Tell the slot that every commit up to the last flushed one is done, and record it.

        At most every ``confirm_ms``: the events are already on the broker, and a
        crash in between only means a replay that the read-back skips.
        """
        now = time.monotonic()
        if self._flushed_end <= self.stats.confirmed_lsn:
            return
        if not force and (now - self._last_confirm) * 1000 < self.options.confirm_ms:
            return
        self.cursor.send_feedback(flush_lsn=self._flushed_end, reply=True)
        self.stats.confirmed_lsn = self._flushed_end
        self._last_confirm = now
        if force or now - self._last_state_write >= self.options.state_every_s:
            self.store()

    def store(self) -> None:
        """Write the position row.  Called after confirms that carried commits, not after
        idle confirms: the row's own write is WAL too, and would keep an idle capture busy."""
        published, skipped = self._unstored
        source.store_position(
            self.conn, self.slot, self.stats.confirmed_lsn, self._last_commit_ms, published, skipped
        )
        self._unstored = (0, 0)
        self._last_state_write = time.monotonic()

    def _batch_due(self) -> bool:
        if self._pending_since is None:
            return False
        return (
            self._pending_events >= self.options.batch_events
            or (time.monotonic() - self._pending_since) * 1000 >= self.options.batch_ms
        )

    # -- main loop -------------------------------------------------------------
    def run(self) -> CaptureStats:
        self._start()
        last_tx = last_log = time.monotonic()
        logged = (0, 0)
        try:
            while not self.stop_requested:
                msg = self.cursor.read_message()
                if msg is not None:
                    tx = self.assembler.feed(pgoutput.parse(msg.payload))
                    if tx is not None:
                        self.handle(tx)
                        last_tx = time.monotonic()
                    if self._batch_due():
                        self.flush()
                        self.confirm()
                    continue
                # Nothing buffered from the server: flush what is pending, then wait.
                if self._pending_since is not None:
                    self.flush()
                self.confirm()
                now = time.monotonic()
                if (
                    self._flushed_end <= self.stats.confirmed_lsn
                    and not self.assembler.in_transaction
                    and self.cursor.wal_end > self.stats.confirmed_lsn
                    and now - self._last_idle_confirm >= 1.0
                ):
                    # Idle: the server has sent everything up to wal_end, so confirming it
                    # lets PostgreSQL recycle WAL written by tables we do not capture.
                    self.cursor.send_feedback(flush_lsn=self.cursor.wal_end)
                    self.stats.confirmed_lsn = self.cursor.wal_end
                    self._last_idle_confirm = now
                if now - last_log >= self.options.log_every_s:
                    self._log_rates(now - last_log, logged)
                    logged = (self.stats.commits, self.stats.events_published)
                    last_log = now
                if self._should_stop(now - last_tx):
                    break
                select.select([self.repl], [], [], 0.1)
            if self._pending_since is not None:
                self.flush()
            self.confirm(force=True)
            if self._unstored != (0, 0) or self._last_state_write == 0.0:
                self.store()
            self._await_slot_confirmed()
        finally:
            self.close()
        log.info("capture stopped: %s", self.stats.line())
        return self.stats

    def _await_slot_confirmed(self, timeout: float = 5.0) -> None:
        """Before a clean exit, make sure the slot has taken the last confirmation.

        Feedback is asynchronous; a process that closes its connection right after
        sending it may leave the slot one batch behind.  That would be safe (the
        read-back skips the replay) but makes ``--once`` runs look unfinished.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.cursor.send_feedback(flush_lsn=self.stats.confirmed_lsn, reply=True, force=True)
            info = source.slot_info(self.conn, self.slot)
            if info is None or info.confirmed_lsn >= self.stats.confirmed_lsn:
                return
            select.select([self.repl], [], [], 0.05)
            while self.cursor.read_message() is not None:
                pass  # a transaction arriving now is replayed next time (not confirmed)
        log.warning(
            "slot %s did not confirm %s in %.0fs",
            self.slot,
            pgoutput.format_lsn(self.stats.confirmed_lsn),
            timeout,
        )

    def _should_stop(self, idle_s: float) -> bool:
        if self.options.idle_timeout is not None and idle_s >= self.options.idle_timeout:
            log.info("idle for %.1fs: stopping", idle_s)
            return True
        if self.target_lsn is not None and not self.assembler.in_transaction:
            reached = max(self.cursor.wal_end, self._flushed_end, self.stats.confirmed_lsn)
            return reached >= self.target_lsn
        return False

    def _log_rates(self, interval: float, before: tuple[int, int]) -> None:
        commits = self.stats.commits - before[0]
        published = self.stats.events_published - before[1]
        log.info(
            "%.1f commits/s, %.1f events/s; %s",
            commits / interval,
            published / interval,
            self.stats.line(),
        )

    def close(self) -> None:
        # Closing after a failure must not hide the failure.
        with contextlib.suppress(Exception):
            self.repl.close()
        with contextlib.suppress(Exception):
            self.conn.close()
