"""Kafka client configuration and topic management, shared by every client.

Producer and consumer settings that carry the delivery guarantees (acks,
idempotence, manual offset storage) are set here once, so no script can
quietly weaken them.
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from salespulse.services import urls
from salespulse.settings import Settings, get_settings

log = logging.getLogger(__name__)


def bootstrap(settings: Settings | None = None) -> str:
    return urls(settings).kafka


def producer_config(settings: Settings | None = None, **overrides: object) -> dict[str, object]:
    """Idempotent, fully acknowledged, compressed producer."""
    config: dict[str, object] = {
        "bootstrap.servers": bootstrap(settings),
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": "lz4",
        "linger.ms": 5,
        "batch.num.messages": 10000,
        "queue.buffering.max.messages": 500000,
        "message.timeout.ms": 60000,
    }
    config.update(overrides)
    return config


def consumer_config(
    group_id: str, settings: Settings | None = None, **overrides: object
) -> dict[str, object]:
    """Manual-commit consumer: offsets are stored only after the sinks have the data."""
    config: dict[str, object] = {
        "bootstrap.servers": bootstrap(settings),
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "fetch.min.bytes": 1,
        "queued.max.messages.kbytes": 262144,
        "session.timeout.ms": 30000,
        "max.poll.interval.ms": 300000,
    }
    config.update(overrides)
    return config


def admin(settings: Settings | None = None) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap(settings)})


def ensure_topics(topics: dict[str, int], settings: Settings | None = None, timeout: float = 30.0) -> None:
    """Create the topics that do not exist yet (``name -> partitions``), idempotently."""
    client = admin(settings or get_settings())
    existing = set(client.list_topics(timeout=timeout).topics)
    missing = [
        NewTopic(name, num_partitions=n, replication_factor=1)
        for name, n in topics.items()
        if name not in existing
    ]
    if not missing:
        return
    for name, future in client.create_topics(missing, operation_timeout=timeout).items():
        try:
            future.result()
            log.info("created topic %s", name)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    # Metadata propagates asynchronously; wait until every topic has its partitions.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        meta = client.list_topics(timeout=timeout).topics
        if all(name in meta and len(meta[name].partitions) == n for name, n in topics.items()):
            return
        time.sleep(0.1)
    raise TimeoutError(f"topics {sorted(topics)} not visible after {timeout}s")


def delete_topics(names: list[str], settings: Settings | None = None, timeout: float = 30.0) -> None:
    client = admin(settings)
    existing = set(client.list_topics(timeout=timeout).topics)
    todo = [n for n in names if n in existing]
    if not todo:
        return
    for future in client.delete_topics(todo, operation_timeout=timeout).values():
        future.result()
