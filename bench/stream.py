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
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

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
        return int(self.stats().get("events_total") or 0)

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
            n = s.applied()
            now = time.monotonic()
            if n and first_t is None:
                first_t, first_n = now, n
            if n >= events:
                break
            time.sleep(0.02)
        consumer.terminate()
        consumer.wait(60)
        seconds = now - first_t
        return {"events": events - first_n, "seconds": seconds, "rate": (events - first_n) / seconds}
    finally:
        s.close()


def live(rate: int, seconds: float, batch: int) -> dict[str, float]:
    s = Scenario(f"live{rate}")
    try:
        s.produce("--rate", "0", "--count", "1", "--seed", "2")  # creates the topic
        consumer = s.consume("--batch-size", str(batch), "--batch-wait-ms", "20")
        s.wait_ready()
        start_n, start = s.applied(), time.monotonic()
        producer = s.produce("--rate", str(rate), "--duration", str(seconds), "--seed", "3", wait=False)
        assert producer.wait() == 0
        produced_s = time.monotonic() - start
        expected = start_n + int(rate * seconds * 0.95)
        deadline = time.monotonic() + 120
        while s.applied() < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        n = s.applied() - start_n
        caught_up = time.monotonic() - start
        time.sleep(1.2)  # one more stats interval
        stats = s.stats()
        consumer.terminate()
        consumer.wait(60)
        return {
            "target": rate,
            "events": n,
            "produced_rate": n / produced_s,
            "e2e_rate": n / caught_up,
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
            f"live {rate}/s: {r['events']} events, producer {r['produced_rate']:,.0f}/s, "
            f"end-to-end {r['e2e_rate']:,.0f}/s, delay p50 {r['p50']:.0f} ms p99 {r['p99']:.0f} ms",
            flush=True,
        )
        rows.append(
            f"| producer at {rate:,}/s for {args.seconds:g} s (batch {batch}) "
            f"| {r['e2e_rate']:,.0f} events/s "
            f"| {r['p50']:.0f} ms | {r['p99']:.0f} ms |"
        )
    print("\n| scenario | throughput | delay p50 | delay p99 |\n| --- | --- | --- | --- |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
