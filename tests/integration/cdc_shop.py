"""Test support for the CDC tests: a fresh shop database per test, a writer, a topic reader.

Each test gets its own database (so its own replication slot) and its own
topic prefix; the fixture drops the slot before the database, because a
leftover slot pins WAL and blocks ``DROP DATABASE``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg2
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from salespulse import events
from salespulse.cdc import publisher, source
from salespulse.events import SaleEvent
from salespulse.kafka import bootstrap, delete_topics
from salespulse.names import Names
from salespulse.settings import Settings, with_overrides

BOOKS = [("BK0000001", "12.99"), ("BK0000002", "5.00"), ("BK0000003", "20.00"), ("BK0000004", "7.49")]
CUSTOMERS = [("CU0000001", "uk"), ("CU0000002", "us-east"), ("CU0000003", "apac")]


@dataclass
class Shop:
    url: str
    database: str
    settings: Settings
    env: dict[str, str]
    topic: str
    books: dict[str, int] = field(default_factory=dict)  # code -> pk
    customers: dict[str, int] = field(default_factory=dict)

    def connect(self) -> psycopg2.extensions.connection:
        return psycopg2.connect(self.url)


@pytest.fixture(name="shop")
def shop_fixture(stack) -> Iterator[Shop]:  # type: ignore[no-untyped-def]
    suffix = uuid.uuid4().hex[:6]
    base_db = stack.database_url.rsplit("/", 1)[1]
    database = f"{base_db}_cdc_{suffix}"
    url = stack.database_url.rsplit("/", 1)[0] + "/" + database
    admin = psycopg2.connect(stack.database_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{database}"')
    prefix = f"{stack.settings.topic_prefix}{suffix}."
    settings = with_overrides(stack.settings, database_url=url, topic_prefix=prefix)
    env = {**stack.env, "DATABASE_URL": url, "SALESPULSE_TOPIC_PREFIX": prefix}
    s = Shop(url, database, settings, env, Names.from_settings(settings).sales_topic)
    conn = source.connect(url)
    try:
        source.apply_schema(conn)
        with conn.cursor() as cur:
            for code, price in BOOKS:
                cur.execute(
                    "INSERT INTO shop_book (code, title, author, genre, price) "
                    "VALUES (%s, %s, 'Author', 'Fiction', %s) RETURNING id",
                    (code, "Title " + code, price),
                )
                s.books[code] = cur.fetchone()[0]
            for code, region in CUSTOMERS:
                cur.execute(
                    "INSERT INTO shop_customer (code, name, region) VALUES (%s, %s, %s) RETURNING id",
                    (code, "Name " + code, region),
                )
                s.customers[code] = cur.fetchone()[0]
        yield s
    finally:
        try:
            source.drop_slot(conn, source.slot_name(database))
        finally:
            conn.close()
            with admin.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            admin.close()
            delete_topics([s.topic], settings)


@dataclass(frozen=True)
class Published:
    partition: int
    offset: int
    key: str
    lsn: int
    pos: int
    count: int
    xid: int
    event: SaleEvent


def read_topic(settings: Settings, topic: str, timeout: float = 30.0) -> list[Published]:
    """Every message on ``topic``, via ``assign()`` on all partitions, read to end-of-partition."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap(settings),
            "group.id": "cdc-test-reader",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 20,
        }
    )
    out: list[Published] = []
    try:
        partitions = consumer.list_topics(topic, timeout=timeout).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        pending = set(partitions)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for msg in consumer.consume(1000, timeout=0.2):
                err = msg.error()
                if err is not None:
                    assert err.code() == KafkaError._PARTITION_EOF, err
                    pending.discard(msg.partition())
                    continue
                h = publisher.header_map(msg.headers())
                lsn, pos = publisher.position_of(msg.headers(), h["cdc-source"])  # type: ignore[misc]
                out.append(
                    Published(
                        msg.partition(),
                        msg.offset(),
                        msg.key().decode(),
                        lsn,
                        pos,
                        int(h["cdc-count"]),
                        int(h["cdc-xid"]),
                        events.decode(msg.value()),
                    )
                )
        assert not pending, f"partitions {pending} not read to the end"
    finally:
        consumer.close()
    return out


def summary(e: SaleEvent) -> tuple[str, str, int, str, int, int, int]:
    """The business content of an event (what a test states as expected)."""
    return (e.event_type, e.order_id, e.line_no, e.product_id, e.quantity, e.unit_price_cents, e.discount_bp)


def in_commit_order(published: list[Published]) -> list[Published]:
    return sorted(published, key=lambda p: (p.lsn, p.pos))
