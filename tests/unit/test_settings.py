"""Settings: defaults that work, every bad value named."""

from __future__ import annotations

from pathlib import Path

import pytest

from salespulse.names import Names
from salespulse.settings import SettingsError, load_settings, with_overrides


def test_defaults() -> None:
    s = load_settings({"SALESPULSE_HOME": "/srv/sp"})
    assert s.home == Path("/srv/sp")
    assert s.data_dir == Path("/srv/sp/data")
    assert s.database_url is None and s.redis_url is None and s.kafka_bootstrap_servers is None
    assert (s.seed, s.books, s.customers, s.partitions) == (42, 5000, 20000, 3)
    assert (s.pg_port, s.redis_port, s.kafka_port) == (55432, 56379, 59092)
    assert s.redis_prefix == "sp" and s.topic_prefix == "" and s.pg_schema == "warehouse"


def test_environment_overrides() -> None:
    s = load_settings(
        {
            "DATABASE_URL": "postgresql://u:p@db:5432/x",
            "REDIS_URL": "redis://cache:6379/1",
            "KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9092",
            "SALESPULSE_SEED": "7",
            "SALESPULSE_TOPIC_PREFIX": "dev.",
            "SALESPULSE_DATA_DIR": "/tmp/lake-x",
        }
    )
    assert s.database_url == "postgresql://u:p@db:5432/x"
    assert s.kafka_bootstrap_servers == "k1:9092,k2:9092"
    assert s.seed == 7
    assert s.lake_dir == Path("/tmp/lake-x/lake")
    names = Names.from_settings(s)
    assert names.sales_topic == "dev.sales.events"
    assert names.dlq_topic == "dev.sales.dlq"
    assert names.key("day", "2026-11-25", "totals") == "sp:day:2026-11-25:totals"
    assert names.staging_schema == "warehouse_staging"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SALESPULSE_SEED": "abc"}, "SALESPULSE_SEED must be an integer, got 'abc'"),
        ({"SALESPULSE_BOOKS": "0"}, "SALESPULSE_BOOKS must be >= 1, got 0"),
        ({"SALESPULSE_PG_PORT": "70000"}, "SALESPULSE_PG_PORT must be a TCP port (1-65535), got 70000"),
        ({"SALESPULSE_LOG_LEVEL": "loud"}, "SALESPULSE_LOG_LEVEL must be a logging level, got 'LOUD'"),
        (
            {"SALESPULSE_PG_SCHEMA": "Bad-Name"},
            "SALESPULSE_PG_SCHEMA must be a lower-case identifier, got 'Bad-Name'",
        ),
    ],
)
def test_bad_values_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as exc:
        load_settings(env)
    assert str(exc.value) == message


def test_overrides_checked() -> None:
    s = load_settings({})
    assert with_overrides(s, seed=9).seed == 9
    with pytest.raises(SettingsError):
        with_overrides(s, nonsense=1)


def test_values_can_come_from_secret_files(tmp_path: Path) -> None:
    secret = tmp_path / "database_url"
    secret.write_text("postgresql://u:s3cret@db:5432/sp\n")
    s = load_settings({"DATABASE_URL_FILE": str(secret)})
    assert s.database_url == "postgresql://u:s3cret@db:5432/sp"
    with pytest.raises(SettingsError) as exc:
        load_settings({"REDIS_URL_FILE": str(tmp_path / "missing")})
    assert str(exc.value).startswith("REDIS_URL_FILE points at an unreadable file:")
