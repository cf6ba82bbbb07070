"""Real round trips through each local service, and the services command itself."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg2
import redis
from confluent_kafka import Consumer, Producer

from salespulse import kafka as sp_kafka
from salespulse.events import decode, encode, from_payload
from salespulse.names import Names
from salespulse.services import process


def _free_port() -> int:
    """A port nothing listens on now (another checkout's test run may use fixed ones)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_postgres_copy_and_query(stack) -> None:
    conn = psycopg2.connect(stack.database_url)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE t_copy (id BIGINT PRIMARY KEY, revenue_cents BIGINT NOT NULL)")
        data = io.StringIO("".join(f"{i}\t{i * 100}\n" for i in range(1, 1001)))
        cur.copy_expert("COPY t_copy (id, revenue_cents) FROM STDIN", data)
        cur.execute("SELECT count(*), sum(revenue_cents), current_database() FROM t_copy")
        assert cur.fetchone() == (1000, 50050000, f"test_{stack.run_id}")
    conn.close()


def test_redis_transaction_and_pubsub(stack) -> None:
    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    names = Names.from_settings(stack.settings)
    key = names.key("roundtrip")
    sub = client.pubsub()
    sub.subscribe(names.updates_channel)
    assert sub.get_message(timeout=2)["type"] == "subscribe"
    pipe = client.pipeline(transaction=True)
    pipe.hincrby(key, "revenue_cents", 1299)
    pipe.hincrby(key, "revenue_cents", -299)
    pipe.publish(names.updates_channel, "hello")
    assert pipe.execute() == [1299, 1000, 1]
    assert client.hgetall(key) == {"revenue_cents": "1000"}
    message = sub.get_message(timeout=2)
    assert (message["channel"], message["data"]) == (names.updates_channel, "hello")
    sub.close()
    client.close()


def test_kafka_consumer_group_reads_back_what_a_producer_wrote(stack) -> None:
    names = Names.from_settings(stack.settings)
    topic = names.sales_topic + ".roundtrip"
    sp_kafka.ensure_topics({topic: 3})
    events = [
        from_payload(
            {
                "schema": "sale.v1",
                "event_id": str(uuid.UUID(int=i + 1)),
                "event_type": "sale" if i % 5 else "refund",
                "event_time": f"2026-11-25T10:00:{i % 60:02d}.{i % 1000:03d}Z",
                "order_id": f"O{i // 3}",
                "line_no": i % 3 + 1,
                "customer_id": f"CU{i:07d}",
                "product_id": f"BK{i % 17:07d}",
                "quantity": i % 4 + 1,
                "unit_price": f"{i % 50}.{i % 100:02d}",
                "discount": 0,
                "currency": "USD",
                "channel": "web",
                "region": "uk",
                "payment_method": "card",
            }
        )
        for i in range(300)
    ]
    producer = Producer(sp_kafka.producer_config())
    failures: list[str] = []
    for event in events:
        producer.produce(
            topic,
            encode(event),
            key=event.order_id,
            on_delivery=lambda err, msg: failures.append(str(err)) if err else None,
        )
    assert producer.flush(30) == 0
    assert failures == []

    consumer = Consumer(sp_kafka.consumer_config(names.consumer_group + ".roundtrip"))
    consumer.subscribe([topic])
    received = []
    deadline = time.monotonic() + 90  # a group's first join can take ~20 s on the local broker
    while len(received) < len(events) and time.monotonic() < deadline:
        for msg in consumer.consume(500, timeout=1.0):
            assert msg.error() is None
            received.append(decode(msg.value()))
    consumer.close()
    assert sorted(received, key=lambda e: e.event_id) == events
    assert sum(e.revenue_cents for e in received) == sum(e.revenue_cents for e in events)


def test_services_cli_lifecycle_on_its_own_ports(stack, tmp_path_factory) -> None:
    """up -> status -> down on a second stack (own ports and folder), leaving no process."""
    home = Path(stack.settings.home)
    data = home / "data" / f"test-stack-{stack.run_id}"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS"}
    }
    pg_port, redis_port, kafka_port = (_free_port() for _ in range(3))
    env.update(
        SALESPULSE_DATA_DIR=str(data),
        SALESPULSE_PG_PORT=str(pg_port),
        SALESPULSE_REDIS_PORT=str(redis_port),
        SALESPULSE_KAFKA_PORT=str(kafka_port),
    )
    cli = [sys.executable, "-m", "salespulse.cli", "services"]
    try:
        up = subprocess.run([*cli, "up"], env=env, capture_output=True, text=True, timeout=180)
        assert up.returncode == 0, up.stderr
        status = subprocess.run([*cli, "status"], env=env, capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stderr
        lines = status.stdout.splitlines()
        assert [line.split()[:3] for line in lines] == [
            ["postgres", "healthy", "embedded"],
            ["redis", "healthy", "embedded"],
            ["kafka", "healthy", "embedded"],
        ]
        assert f"127.0.0.1:{pg_port}" in lines[0] and "PostgreSQL 16" in lines[0]
        assert f"127.0.0.1:{redis_port}" in lines[1] and "Redis 6.2" in lines[1]
        assert f"127.0.0.1:{kafka_port}" in lines[2] and "Tansu" in lines[2]
        pids = [process.read_pid(data / "services" / n / f"{n}.pid") for n in ("postgres", "redis", "kafka")]
        assert all(pid is not None and process.pid_alive(pid) for pid in pids)
        again = subprocess.run([*cli, "up"], env=env, capture_output=True, text=True, timeout=60)
        assert again.returncode == 0  # idempotent: same processes
        assert [
            process.read_pid(data / "services" / n / f"{n}.pid") for n in ("postgres", "redis", "kafka")
        ] == pids
        down = subprocess.run([*cli, "down"], env=env, capture_output=True, text=True, timeout=60)
        assert down.stdout.strip() == "stopped: kafka, redis, postgres"
        assert process.wait_until(lambda: not any(process.pid_alive(p) for p in pids if p), 10)
        assert (data / "services" / "postgres").exists()  # data kept
        after = subprocess.run([*cli, "status"], env=env, capture_output=True, text=True, timeout=60)
        assert after.returncode == 1
        assert [line.split()[1] for line in after.stdout.splitlines()] == ["DOWN", "DOWN", "DOWN"]
    finally:
        subprocess.run([*cli, "down", "--reset"], env=env, capture_output=True, timeout=60)
        import shutil

        shutil.rmtree(data, ignore_errors=True)
