"""The local stack: embedded PostgreSQL, Redis and Kafka-protocol broker.

Each service is started under ``data/services/`` only when its URL is not
configured; a configured URL is used as it is (and only health-checked).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from salespulse.services import process
from salespulse.services.base import EmbeddedService, ServiceError, Status
from salespulse.services.kafka_broker import EmbeddedKafka
from salespulse.services.postgres import EmbeddedPostgres
from salespulse.services.redis_server import EmbeddedRedis
from salespulse.settings import Settings, get_settings

__all__ = ["ServiceError", "ServiceUrls", "Status", "all_services", "down", "status", "up", "urls"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServiceUrls:
    database: str
    redis: str
    kafka: str


def all_services(settings: Settings | None = None) -> list[EmbeddedService]:
    s = settings or get_settings()
    return [EmbeddedPostgres(s), EmbeddedRedis(s), EmbeddedKafka(s)]


def urls(settings: Settings | None = None) -> ServiceUrls:
    """Where each service is: the configured URL, or the embedded one's."""
    pg, rd, kf = all_services(settings)
    return ServiceUrls(database=pg.url, redis=rd.url, kafka=kf.url)


def _lock(settings: Settings):  # type: ignore[no-untyped-def]
    return process.file_lock(settings.services_dir / ".stack.lock")


def up(settings: Settings | None = None, *, reset: bool = False) -> list[Status]:
    """Start what is not configured and not running; wait until all are healthy."""
    s = settings or get_settings()
    with _lock(s):
        for service in all_services(s):
            if reset and service.embedded:
                service.reset()
            if service.embedded and not service.running():
                log.info("starting %s (embedded) under %s", service.name, service.dir)
            service.start()
        return [service.status() for service in all_services(s)]


def down(settings: Settings | None = None, *, reset: bool = False) -> list[str]:
    """Stop only what ``up`` started (pid files); ``reset`` also wipes their data."""
    s = settings or get_settings()
    stopped = []
    with _lock(s):
        for service in reversed(all_services(s)):
            if service.stop():
                stopped.append(service.name)
            if reset and service.embedded:
                service.reset()
    return stopped


def status(settings: Settings | None = None) -> list[Status]:
    return [service.status() for service in all_services(settings)]
