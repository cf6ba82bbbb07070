"""CDC killed with SIGKILL mid-stream, again and again: every committed change exactly once, in order."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from cdc_shop import Shop, in_commit_order, read_topic, shop_fixture, summary  # noqa: F401 (fixture)

from salespulse.cdc.runner import Capture, CaptureOptions

Summary = tuple[str, str, int, str, int, int, int]


@dataclass
class Line:
    book: str
    qty: int
    price_cents: int
    discount_bp: int
    active: bool = True

    def event(self, kind: str, number: str, line_no: int) -> Summary:
        return (kind, number, line_no, self.book, self.qty, self.price_cents, self.discount_bp)


class Writer(threading.Thread):
    """Random shop transactions, each with the events it must produce (an independent model)."""

    def __init__(self, shop: Shop, transactions: int, seed: int = 7):
        super().__init__(daemon=True)
        self.shop, self.transactions, self.rng = shop, transactions, random.Random(seed)
        self.lines: dict[tuple[str, int], Line] = {}
        self.expected: list[tuple[int, list[Summary]]] = []  # (xid, events) in commit order
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            conn = self.shop.connect()
            with conn.cursor() as cur:
                for i in range(self.transactions):
                    cur.execute("SELECT txid_current() % 4294967296")
                    xid = int(cur.fetchone()[0])
                    self.expected.append((xid, self._one(cur, i)))
                    conn.commit()
                    time.sleep(0.01)
            conn.close()
        except BaseException as exc:  # surfaced by the test
            self.error = exc

    def _pick(self, active: bool | None = None) -> tuple[str, int] | None:
        keys = [k for k, v in self.lines.items() if active is None or v.active == active]
        return self.rng.choice(sorted(keys)) if keys else None

    def _where(self) -> str:
        return "line_no = %s AND order_id = (SELECT id FROM shop_order WHERE number = %s)"

    def _one(self, cur, i: int) -> list[Summary]:  # type: ignore[no-untyped-def]
        r = self.rng.random()
        target = self._pick(active=True)
        if r < 0.4 or target is None:
            number = f"ORD-K{i:05d}"
            customer = self.rng.choice(sorted(self.shop.customers))
            cur.execute(
                "INSERT INTO shop_order (number, customer_id, channel, payment_method) "
                "VALUES (%s, %s, 'web', 'card')",
                (number, self.shop.customers[customer]),
            )
            out = []
            for line_no in range(1, self.rng.randint(1, 3) + 1):
                book = self.rng.choice(sorted(self.shop.books))
                line = Line(
                    book, self.rng.randint(1, 5), self.rng.randint(100, 5000), self.rng.choice([0, 500])
                )
                cur.execute(
                    "INSERT INTO shop_orderline (order_id, line_no, book_id, quantity, unit_price, discount) "
                    "SELECT id, %s, %s, %s, %s / 100.0, %s / 10000.0 FROM shop_order WHERE number = %s",
                    (line_no, self.shop.books[book], line.qty, line.price_cents, line.discount_bp, number),
                )
                self.lines[(number, line_no)] = line
                out.append(line.event("sale", number, line_no))
            return out
        number, line_no = target
        line = self.lines[target]
        if r < 0.55:  # quantity change
            new = Line(line.book, line.qty % 5 + 1, line.price_cents, line.discount_bp)
            cur.execute(
                f"UPDATE shop_orderline SET quantity = %s WHERE {self._where()}", (new.qty, line_no, number)
            )
        elif r < 0.65:  # price change
            new = Line(line.book, line.qty, line.price_cents + 1, line.discount_bp)
            cur.execute(
                f"UPDATE shop_orderline SET unit_price = %s / 100.0 WHERE {self._where()}",
                (new.price_cents, line_no, number),
            )
        elif r < 0.78:  # cancel
            cur.execute(
                f"UPDATE shop_orderline SET status = 'cancelled' WHERE {self._where()}", (line_no, number)
            )
            line.active = False
            return [line.event("refund", number, line_no)]
        elif r < 0.85:  # reinstate a cancelled line, if any
            cancelled = self._pick(active=False)
            if cancelled is None:
                return []
            cur.execute(f"UPDATE shop_orderline SET status = 'active' WHERE {self._where()}", cancelled[::-1])
            self.lines[cancelled].active = True
            return [self.lines[cancelled].event("sale", *cancelled)]
        else:  # delete
            cur.execute(f"DELETE FROM shop_orderline WHERE {self._where()}", (line_no, number))
            del self.lines[target]
            return [line.event("refund", number, line_no)]
        self.lines[target] = new
        return [line.event("refund", number, line_no), new.event("sale", number, line_no)]


START_LINE = re.compile(r"capture \S+: slot")


def start_capture(shop: Shop, log: Path) -> subprocess.Popen:
    """Start ``salespulse cdc`` and return once it streams (its start-up line is logged)."""
    before = len(START_LINE.findall(log.read_text())) if log.exists() else 0
    cmd = [sys.executable, "-m", "salespulse.cli", "cdc", "--batch-ms", "100"]
    proc = subprocess.Popen(cmd, env=shop.env, stdout=subprocess.DEVNULL, stderr=log.open("ab"))
    deadline = time.monotonic() + 60
    while len(START_LINE.findall(log.read_text())) == before:
        assert proc.poll() is None, log.read_text()[-2000:]
        assert time.monotonic() < deadline, "capture did not start"
        time.sleep(0.05)
    return proc


def test_sigkill_mid_stream_loses_nothing_and_duplicates_nothing(shop: Shop, tmp_path: Path) -> None:
    s = shop
    Capture(s.settings, CaptureOptions(once=True)).run()  # slot + publication, empty
    writer = Writer(s, transactions=300)
    log = tmp_path / "cdc.log"
    rng = random.Random(11)
    kills = 0
    proc = start_capture(s, log)
    writer.start()
    while writer.is_alive() or kills < 4:
        time.sleep(rng.uniform(0.3, 1.5))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        proc = start_capture(s, log)
    writer.join()
    assert writer.error is None, writer.error
    time.sleep(rng.uniform(0.3, 1.0))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    final = Capture(s.settings, CaptureOptions(once=True))
    final.run()  # drain what the last killed process left

    published = read_topic(s.settings, s.topic)
    ids = Counter(p.event.event_id for p in published)
    duplicates = {k: n for k, n in ids.items() if n > 1}
    assert not duplicates, f"{len(duplicates)} duplicated events"
    expected = [(xid, evs) for xid, evs in writer.expected if evs]
    ordered = in_commit_order(published)
    got: dict[int, list[Summary]] = {}
    for p in ordered:
        got.setdefault(p.xid, []).append(summary(p.event))
    # Exactly the expected events per transaction, and the transactions in commit order.
    assert list(got) == [xid for xid, _ in expected]
    assert [(xid, got[xid]) for xid, _ in expected] == expected
    assert len(published) == sum(len(evs) for _, evs in expected)
    text = log.read_text()
    starts = len(START_LINE.findall(text))
    resumed_with = [int(n) for n in re.findall(r"(\d+) events past it already published", text)]
    print(
        f"\nCDC kill test: {kills + 1} SIGKILLs, {starts} starts, {len(writer.expected)} transactions, "
        f"{len(published)} events, already-published found on restarts: {resumed_with}, "
        f"final drain published {final.stats.events_published} skipped {final.stats.events_skipped}"
    )
