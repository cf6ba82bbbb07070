"""Stream benchmark (`make bench-stream`): drain rate, end-to-end throughput, event-to-Redis delay.

Each scenario runs the real commands as subprocesses (one consumer process,
three partitions) on its own topic prefix, Redis prefix and lake folder,
and reads the consumer's own figures from ``P:stats:consumer`` (events
applied, delay percentiles measured from each event's event time to its
batch's Redis apply).  Prints a Markdown table for docs/BENCHMARKS.md.

    .venv/bin/python bench/stream.py [--drain-events 300000] [--e2e-rate 30000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

import redis

from salespulse import kafka as sp_kafka
from salespulse.names import Names
from salespulse.services import up, urls
from salespulse.settings import load_settings

CLI = [sys.executable, "-m", "salespulse.cli"]


class Scenario:
    def __init__(self, name: str):
        self.tag = f"bench-{name}-{uuid.uuid4().hex[:6]}"
        self.dir = tempfile.mkdtemp(prefix=self.tag)
        u = urls()
        self.env = {
            **os.environ,
            "REDIS_URL": u.redis,
            "KAFKA_BOOTSTRAP_SERVERS": u.kafka,
            "SALESPULSE_TOPIC_PREFIX": f"{self.tag}.",
            "SALESPULSE_REDIS_PREFIX": self.tag,
            "SALESPULSE_DATA_DIR": self.dir,
            "SALESPULSE_LOG_LEVEL": "WARNING",
        }
        self.settings = load_settings(self.env)
        self.names = Names.from_settings(self.settings)
        self.redis = redis.Redis.from_url(u.redis, decode_responses=True)

    def stats(self) -> dict[str, str]:
        return self.redis.hgetall(self.names.key("stats", "consumer"))

    def applied(self) -> int:
        """Events applied so far (the consumer's stats line, written once a second)."""
        return int(self.stats().get("events_total") or 0)

    def applied_now(self) -> int:
        """Events in today's and yesterday's totals: moved by every applied batch, atomically."""
        today = datetime.now(UTC).date()
        days = (today - timedelta(days=1), today)
        values = self.redis.pipeline().hget(self.names.day_key("totals", days[0]), "events")
        values = values.hget(self.names.day_key("totals", days[1]), "events").execute()
        return sum(int(v or 0) for v in values)

    def produce(self, *args: str, wait: bool = True) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([*CLI, "produce", *args], env=self.env, stderr=subprocess.DEVNULL)
        if wait:
            assert proc.wait() == 0, "producer failed"
        return proc

    def consume(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [*CLI, "consume", "--session-timeout-ms", "2000", *args], env=self.env, stderr=subprocess.DEVNULL
        )

    def wait_ready(self, timeout: float = 90) -> None:
        """Until the consumer has joined and written its first stats line."""
        deadline = time.monotonic() + timeout
        while "updated_at" not in self.stats():
            if time.monotonic() > deadline:
                raise TimeoutError("consumer did not start")
            time.sleep(0.1)
        time.sleep(1.5)

    def close(self) -> None:
        keys = list(self.redis.scan_iter(f"{self.tag}*", count=1000))
        for i in range(0, len(keys), 1000):
            self.redis.delete(*keys[i : i + 1000])
        sp_kafka.delete_topics([self.names.sales_topic, self.names.dlq_topic], self.settings)
        shutil.rmtree(self.dir, ignore_errors=True)


def drain(events: int, batch: int) -> dict[str, float]:
    s = Scenario("drain")
    try:
        s.produce("--rate", "0", "--count", str(events), "--seed", "1")
        consumer = s.consume("--batch-size", str(batch), "--batch-wait-ms", "100")
        first_t = first_n = None
        while True:
            n = s.applied_now()
            now = time.monotonic()
            if n and first_t is None:
                first_t, first_n = now, n
            if n >= events:
                break
            time.sleep(0.005)
        consumer.terminate()
        consumer.wait(60)
        seconds = now - first_t
        return {"events": events - first_n, "seconds": seconds, "rate": (events - first_n) / seconds}
    finally:
        s.close()


def live(rate: int, seconds: float, batch: int) -> dict[str, float]:
    """Producer at ``rate`` for ``seconds`` beside one consumer.

    Sustained end-to-end throughput = events applied between the first and the
    last event of the run over the time between them (the processes' start-up
    is not part of it); the producer's own achieved rate is reported beside it.
    """
    s = Scenario(f"live{rate}")
    try:
        s.produce("--rate", "0", "--count", "1", "--seed", "2")  # creates the topic
        consumer = s.consume("--batch-size", str(batch), "--batch-wait-ms", "20")
        s.wait_ready()
        start_n = s.applied_now()
        producer = subprocess.Popen(
            [*CLI, "produce", "--rate", str(rate), "--duration", str(seconds), "--seed", "3"],
            env={**s.env, "SALESPULSE_LOG_LEVEL": "INFO"},
            stderr=subprocess.PIPE,
            text=True,
        )
        first_t = None
        while first_t is None:
            if s.applied_now() > start_n:
                first_t, first_n = time.monotonic(), s.applied_now()
            time.sleep(0.005)
        _out, err = producer.communicate(timeout=seconds + 120)
        assert producer.returncode == 0, "producer failed"
        done = re.search(r"done: sent (\d+) in ([\d.]+) s \((\d+) events/s\)", err)
        assert done, err[-500:]
        sent, produced_rate = int(done[1]), float(done[3])
        deadline = time.monotonic() + 120
        last_n, last_t = s.applied_now(), time.monotonic()
        while last_n < start_n + sent and time.monotonic() < deadline:
            time.sleep(0.005)
            n = s.applied_now()
            if n != last_n:
                last_n, last_t = n, time.monotonic()
        stats = s.stats()  # the delay window: the consumer's last 10 s, all of them under load
        consumer.terminate()
        consumer.wait(60)
        return {
            "target": rate,
            "events": last_n - start_n,
            "sent": sent,
            "produced_rate": produced_rate,
            "e2e_rate": (last_n - first_n) / (last_t - first_t),
            "p50": float(stats.get("delay_p50_ms") or "nan"),
            "p99": float(stats.get("delay_p99_ms") or "nan"),
        }
    finally:
        s.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--drain-events", type=int, default=300_000)
    parser.add_argument("--drain-batch", type=int, default=20_000)
    parser.add_argument("--e2e-rate", type=int, default=30_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--skip-drain", action="store_true")
    args = parser.parse_args()
    up()
    rows = []
    if not args.skip_drain:
        d = drain(args.drain_events, args.drain_batch)
        print(f"drain: {d['events']} events in {d['seconds']:.2f} s = {d['rate']:,.0f} events/s", flush=True)
        rows.append(
            f"| drain pre-filled topic (3 partitions, batch {args.drain_batch}) "
            f"| {d['rate']:,.0f} events/s | - | - |"
        )
    for rate, batch in ((args.e2e_rate, 5000), (5000, 2000), (1000, 2000)):
        r = live(rate, args.seconds, batch)
        print(
            f"live {rate}/s: {r['events']} of {r['sent']} events applied, "
            f"producer {r['produced_rate']:,.0f}/s, "
            f"end-to-end {r['e2e_rate']:,.0f}/s, delay p50 {r['p50']:.0f} ms p99 {r['p99']:.0f} ms",
            flush=True,
        )
        rows.append(
            f"| producer at {rate:,}/s for {args.seconds:g} s (batch {batch}) "
            f"| {r['e2e_rate']:,.0f} events/s (producer {r['produced_rate']:,.0f}/s) "
            f"| {r['p50']:.0f} ms | {r['p99']:.0f} ms |"
        )
    print("\n| scenario | throughput | delay p50 | delay p99 |\n| --- | --- | --- | --- |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
