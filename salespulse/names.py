"""Every name that two components must agree on, in one place.

Topics, Redis keys and channels, Channels groups, lake paths and warehouse
table names are derived here from the settings' prefixes, so a test run (or a
second deployment on the same servers) is isolated by changing a prefix and
nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from salespulse.settings import Settings, get_settings

# Base names; the configured prefixes are added by :class:`Names`.
SALES_TOPIC = "sales.events"
DLQ_TOPIC = "sales.dlq"
INTERACTIONS_TOPIC = "shop.interactions"
CONSUMER_GROUP = "salespulse-speed"

#: Channels group every live WebSocket client joins.
LIVE_GROUP = "live-sales"

#: Lake zones under ``data/lake``.
RAW_ZONE = "raw"
CURATED_ZONE = "curated"
QUARANTINE_ZONE = "quarantine"
LANDING_DIR = "landing"

#: Warehouse tables (star schema, staging prefix ``stg_``, aggregates ``agg_``).
DIM_TABLES = ("dim_book", "dim_customer", "dim_date", "dim_region", "dim_channel")
FACT_TABLE = "fct_sales"
AGG_TABLES = (
    "agg_daily_sales",
    "agg_daily_region",
    "agg_daily_genre",
    "agg_daily_channel",
    "agg_daily_book",
    "agg_monthly_book",
    "agg_monthly_sales",
    "agg_daily_customer",
    "agg_monthly_customer",
)
BATCH_RUNS_TABLE = "batch_runs"
CSV_REPORTS_TABLE = "csv_file_reports"
STAGING_SCHEMA_SUFFIX = "_staging"


@dataclass(frozen=True, slots=True)
class Names:
    """Names resolved against one settings object's prefixes."""

    topic_prefix: str
    redis_prefix: str
    pg_schema: str
    lake_dir: Path

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Names:
        s = settings or get_settings()
        return cls(s.topic_prefix, s.redis_prefix, s.pg_schema, s.lake_dir)

    # Kafka -------------------------------------------------------------
    @property
    def sales_topic(self) -> str:
        return self.topic_prefix + SALES_TOPIC

    @property
    def dlq_topic(self) -> str:
        return self.topic_prefix + DLQ_TOPIC

    @property
    def interactions_topic(self) -> str:
        return self.topic_prefix + INTERACTIONS_TOPIC

    @property
    def consumer_group(self) -> str:
        return self.topic_prefix + CONSUMER_GROUP

    # Redis -------------------------------------------------------------
    def key(self, *parts: object) -> str:
        """A Redis key under the prefix, e.g. ``key("day", "2026-11-25", "totals")``."""
        return ":".join([self.redis_prefix, *(str(p) for p in parts)])

    def day_key(self, view: str, day: date | str) -> str:
        return self.key("day", str(day), view)

    @property
    def updates_channel(self) -> str:
        """Redis pub/sub channel the consumer publishes live updates on."""
        return self.key("updates")

    @property
    def live_group(self) -> str:
        return f"{self.redis_prefix}-{LIVE_GROUP}"

    # Lake --------------------------------------------------------------
    def zone(self, zone: str) -> Path:
        return self.lake_dir / zone

    def raw_sales_dir(self, source: str) -> Path:
        """Raw zone of sale events from one source (stream, generator, csv)."""
        return self.zone(RAW_ZONE) / "sales" / f"source={source}"

    @property
    def landing_dir(self) -> Path:
        return self.lake_dir.parent / LANDING_DIR

    # Warehouse ---------------------------------------------------------
    @property
    def staging_schema(self) -> str:
        return self.pg_schema + STAGING_SCHEMA_SUFFIX

    def table(self, name: str, schema: str | None = None) -> str:
        return f"{schema or self.pg_schema}.{name}"
