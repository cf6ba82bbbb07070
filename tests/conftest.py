"""Shared fixtures: the real local services, isolated per test run.

The ``stack`` fixture brings PostgreSQL, Redis and the Kafka-protocol broker
up once per session (embedded, or the configured URLs), then isolates this run
with its own database, Redis key prefix, topic prefix and lake folder, and
points every component at them through the environment, exactly as a user's
deployment would.  Services that the fixture started are stopped at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from salespulse import services
from salespulse.settings import Settings, get_settings, load_settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by its folder: tests/unit -> unit, tests/integration -> integration."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        for marker in ("unit", "integration", "e2e"):
            if marker in parts:
                item.add_marker(getattr(pytest.mark, marker))


@dataclass(frozen=True)
class Stack:
    settings: Settings
    run_id: str
    database_url: str
    redis_url: str
    kafka: str
    env: dict[str, str]  # environment for subprocesses of this run


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = load_settings()
    started = [s for s in services.all_services(base) if s.embedded and not s.running()]
    services.up(base)
    urls = services.urls(base)
    run_id = uuid.uuid4().hex[:8]
    database = f"test_{run_id}"
    admin = psycopg2.connect(urls.database)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{database}"')
    database_url = urls.database.rsplit("/", 1)[0] + "/" + database

    lake_root = tmp_path_factory.mktemp("data")
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": urls.redis,
        "KAFKA_BOOTSTRAP_SERVERS": urls.kafka,
        "SALESPULSE_TOPIC_PREFIX": f"t{run_id}.",
        "SALESPULSE_REDIS_PREFIX": f"t{run_id}",
        "SALESPULSE_DATA_DIR": str(lake_root),
        "SALESPULSE_HOME": str(base.home),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        yield Stack(get_settings(), run_id, database_url, urls.redis, urls.kafka, dict(os.environ))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
        _cleanup(urls, database, run_id)
        admin.close()
        for service in reversed(started):
            service.stop()


def _cleanup(urls: services.ServiceUrls, database: str, run_id: str) -> None:
    import redis

    from salespulse.kafka import delete_topics

    try:
        admin = psycopg2.connect(urls.database)
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()
    except psycopg2.Error:
        pass
    client = redis.Redis.from_url(urls.redis)
    keys = list(client.scan_iter(f"t{run_id}*", count=1000))
    for i in range(0, len(keys), 1000):
        client.delete(*keys[i : i + 1000])
    client.close()
    try:
        from confluent_kafka.admin import AdminClient

        topics = AdminClient({"bootstrap.servers": urls.kafka}).list_topics(timeout=10).topics
        delete_topics([t for t in topics if t.startswith(f"t{run_id}.")])
    except Exception:
        pass
