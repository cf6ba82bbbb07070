"""Typed settings, read once from the environment.

Every component (producer, consumer, Spark jobs, DAGs, Django) calls
:func:`get_settings` instead of reading ``os.environ`` itself, so a variable
means the same thing everywhere and has exactly one default.  A URL left unset
means "use the embedded local service", which :mod:`salespulse.services`
starts under ``data/services/``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from pathlib import Path

#: The repository root when the package is installed in editable mode (the
#: normal case); a non-editable install falls back to the working directory.
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def _default_home() -> Path:
    if (_PACKAGE_ROOT / "pyproject.toml").is_file():
        return _PACKAGE_ROOT
    return Path.cwd()


class SettingsError(ValueError):
    """A variable is set to a value that cannot be used; the message names it."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Configuration of one SalesPulse process.

    Field docs double as the README's configuration table (``salespulse config``).
    """

    home: Path
    data_dir: Path
    database_url: str | None
    redis_url: str | None
    kafka_bootstrap_servers: str | None
    seed: int
    books: int
    customers: int
    topic_prefix: str
    redis_prefix: str
    pg_schema: str
    pg_port: int
    redis_port: int
    kafka_port: int
    partitions: int
    log_level: str

    @property
    def services_dir(self) -> Path:
        return self.data_dir / "services"

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"


#: name -> (environment variable, default as text, help).  One table so the
#: CLI and README can list them without repeating defaults.
VARIABLES: dict[str, tuple[str, str, str]] = {
    "home": ("SALESPULSE_HOME", "", "Project root (default: the checkout the package lives in)."),
    "data_dir": (
        "SALESPULSE_DATA_DIR",
        "",
        "Lake and embedded-service data (default: $SALESPULSE_HOME/data).",
    ),
    "database_url": ("DATABASE_URL", "", "PostgreSQL/Redshift URL; unset = embedded PostgreSQL."),
    "redis_url": ("REDIS_URL", "", "Redis URL; unset = embedded Redis."),
    "kafka_bootstrap_servers": ("KAFKA_BOOTSTRAP_SERVERS", "", "Kafka brokers; unset = embedded broker."),
    "seed": ("SALESPULSE_SEED", "42", "Seed of the reference catalogue, shared by every component."),
    "books": ("SALESPULSE_BOOKS", "5000", "Number of books in the catalogue."),
    "customers": ("SALESPULSE_CUSTOMERS", "20000", "Number of customers in the catalogue."),
    "topic_prefix": ("SALESPULSE_TOPIC_PREFIX", "", "Prefix of every Kafka topic name (isolates runs)."),
    "redis_prefix": ("SALESPULSE_REDIS_PREFIX", "sp", "Prefix of every Redis key and channel."),
    "pg_schema": ("SALESPULSE_PG_SCHEMA", "warehouse", "Published warehouse schema in PostgreSQL."),
    "pg_port": ("SALESPULSE_PG_PORT", "55432", "Port of the embedded PostgreSQL."),
    "redis_port": ("SALESPULSE_REDIS_PORT", "56379", "Port of the embedded Redis."),
    "kafka_port": ("SALESPULSE_KAFKA_PORT", "59092", "Port of the embedded Kafka-protocol broker."),
    "partitions": (
        "SALESPULSE_PARTITIONS",
        "3",
        "Partitions of the sales topic when the project creates it.",
    ),
    "log_level": ("SALESPULSE_LOG_LEVEL", "INFO", "Logging level of every command."),
}


def _int(name: str, raw: str, minimum: int = 0) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {value}")
    return value


def _port(name: str, raw: str) -> int:
    value = _int(name, raw, 1)
    if value > 65535:
        raise SettingsError(f"{name} must be a TCP port (1-65535), got {value}")
    return value


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from ``environ`` (default ``os.environ``), validating every value."""
    env = os.environ if environ is None else environ

    def raw(field: str) -> str:
        var, default, _ = VARIABLES[field]
        value = env.get(var, "").strip()
        if not value and env.get(f"{var}_FILE"):
            # Docker/Kubernetes secrets: the value lives in a file, not in the environment.
            path = Path(env[f"{var}_FILE"])
            try:
                value = path.read_text().strip()
            except OSError as exc:
                raise SettingsError(f"{var}_FILE points at an unreadable file: {exc}") from None
        return value or default

    home = Path(raw("home")).expanduser().resolve() if raw("home") else _default_home()
    data_dir = Path(raw("data_dir")).expanduser().resolve() if raw("data_dir") else home / "data"
    level = raw("log_level").upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise SettingsError(f"SALESPULSE_LOG_LEVEL must be a logging level, got {level!r}")
    schema = raw("pg_schema")
    if not schema.isidentifier() or schema.lower() != schema:
        raise SettingsError(f"SALESPULSE_PG_SCHEMA must be a lower-case identifier, got {schema!r}")
    return Settings(
        home=home,
        data_dir=data_dir,
        database_url=raw("database_url") or None,
        redis_url=raw("redis_url") or None,
        kafka_bootstrap_servers=raw("kafka_bootstrap_servers") or None,
        seed=_int("SALESPULSE_SEED", raw("seed")),
        books=_int("SALESPULSE_BOOKS", raw("books"), 1),
        customers=_int("SALESPULSE_CUSTOMERS", raw("customers"), 1),
        topic_prefix=raw("topic_prefix"),
        redis_prefix=raw("redis_prefix"),
        pg_schema=schema,
        pg_port=_port("SALESPULSE_PG_PORT", raw("pg_port")),
        redis_port=_port("SALESPULSE_REDIS_PORT", raw("redis_port")),
        kafka_port=_port("SALESPULSE_KAFKA_PORT", raw("kafka_port")),
        partitions=_int("SALESPULSE_PARTITIONS", raw("partitions"), 1),
        log_level=level,
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return load_settings()


def with_overrides(settings: Settings, **changes: object) -> Settings:
    """A copy with some fields changed (tests and CLI flags), checked against the field names."""
    known = {f.name for f in fields(Settings)}
    unknown = set(changes) - known
    if unknown:
        raise SettingsError(f"unknown settings: {sorted(unknown)}")
    return replace(settings, **changes)  # type: ignore[arg-type]
