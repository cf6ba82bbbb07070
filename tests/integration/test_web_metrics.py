"""``/metrics``: Prometheus text format 0.0.4, parsed line by line, with exact values.

Consumer stats are written to Redis exactly as the speed consumer writes them
(``P:stats:consumer``, ``P:stats:late_events``), a batch run as the batch job records it in
``warehouse_meta.batch_runs``, quarantine files as CSV ingestion leaves them, and WebSocket
clients are real connections through the ASGI application.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test import Client, override_settings
from django_support import Dataset

from salespulse.names import Names

SAMPLE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\})? (\S+)$'
)
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
RUN_ID = "metrics-test-run"
STARTED = datetime(2099, 1, 1, 10, 0, 0)
FINISHED = datetime(2099, 1, 1, 10, 5, 30)
STEPS = {"build": 12.5, "load": 3.25, "check": 0.5, "publish": 0.125}
CONSUMER = {
    "events_per_s": "812.5",
    "batch_latency_ms": "12.0",
    "lag:0": "3",
    "lag:1": "0",
    "lag:2": "7",
    "lag_total": "10",
    "updated_at": "2026-03-23T12:30:20.000Z",
    "delay_p50_ms": "180",
    "delay_p99_ms": "950",
    "events_total": "123456",
    "dlq_total": "42",
}
ORIGIN = (b"origin", b"http://127.0.0.1:8000")


def parse(
    text: str,
) -> tuple[dict[str, tuple[str, str]], dict[tuple[str, frozenset[tuple[str, str]]], float]]:
    """``({name: (type, help)}, {(name, labels): value})``; fails on any line out of format."""
    families: dict[str, tuple[str, str]] = {}
    helps: dict[str, str] = {}
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert name not in helps, f"duplicate HELP {name}"
            helps[name] = help_text
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert kind in ("counter", "gauge") and name in helps and name not in families, line
            families[name] = (kind, helps[name])
        else:
            match = SAMPLE.match(line)
            assert match, f"not a sample line: {line!r}"
            name, labels, value = match.groups()
            assert name in families, f"sample before its TYPE: {line!r}"
            key = (name, frozenset(LABEL.findall(labels or "")))
            assert key not in samples, f"duplicate sample {line!r}"
            samples[key] = float(value)
    assert all(name.startswith("salespulse_") for name in families)
    return families, samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def _metrics(client: Client, **headers: Any) -> str:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return response.content.decode()


def test_access(users: Any, analyst_client: Any, staff_client: Any, dataset: Dataset) -> None:
    anonymous = Client().get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == 'Bearer realm="salespulse-metrics"'
    assert analyst_client.get("/metrics").status_code == 403
    assert staff_client.get("/metrics").status_code == 200
    # No token configured: a bearer header opens nothing.
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    with override_settings(METRICS_TOKEN="s3cret-token"):
        assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200
        assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
        assert Client().get("/metrics", HTTP_AUTHORIZATION="Token s3cret-token").status_code == 401
        assert analyst_client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
        assert staff_client.get("/metrics").status_code == 200


@pytest.fixture()
def seeded(dataset: Dataset) -> Any:
    """Consumer stats, late events and a newest batch run; everything put back afterwards."""
    from api import speed

    names = Names.from_settings()
    r = speed.client()
    stats, late = names.key("stats", "consumer"), names.key("stats", "late_events")
    saved_stats, saved_late = r.hgetall(stats), r.get(late)
    r.delete(stats)
    r.hset(stats, mapping=CONSUMER)
    r.set(late, 17)
    row: dict[str, Any] = {
        "run_id": RUN_ID,
        "mode": "incremental",
        "status": "published",
        "started_at": STARTED,
        "finished_at": FINISHED,
        "watermark": dataset.watermark,
        "steps": json.dumps(STEPS),
    }
    with connection.cursor() as cur:
        cur.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'warehouse_meta' AND table_name = 'batch_runs'"
        )
        if "pg_schema" in {c for (c,) in cur.fetchall()}:
            row["pg_schema"] = names.pg_schema
        columns, marks = ", ".join(row), ", ".join(["%s"] * len(row))
        cur.execute(f"INSERT INTO warehouse_meta.batch_runs ({columns}) VALUES ({marks})", list(row.values()))
    try:
        yield names
    finally:
        with connection.cursor() as cur:
            cur.execute("DELETE FROM warehouse_meta.batch_runs WHERE run_id = %s", [RUN_ID])
        r.delete(stats, late)
        if saved_stats:
            r.hset(stats, mapping=saved_stats)
        if saved_late is not None:
            r.set(late, saved_late)


def test_exact_values(staff_client: Any, dataset: Dataset, seeded: Names) -> None:
    families, samples = parse(_metrics(staff_client))
    assert families["salespulse_consumer_events_total"][0] == "counter"
    assert families["salespulse_consumer_lag_messages"][0] == "gauge"
    assert value(samples, "salespulse_consumer_events_per_second") == 812.5
    assert value(samples, "salespulse_consumer_events_total") == 123456
    assert value(samples, "salespulse_dlq_events_total") == 42
    assert value(samples, "salespulse_late_events_total") == 17
    assert value(samples, "salespulse_consumer_lag_messages") == 10
    lags = {dict(k[1])["partition"]: v for k, v in samples.items() if k[0].endswith("partition_lag_messages")}
    assert lags == {"0": 3, "1": 0, "2": 7}
    assert value(samples, "salespulse_consumer_batch_latency_seconds") == 0.012
    assert value(samples, "salespulse_end_to_end_delay_seconds", quantile="0.5") == 0.18
    assert value(samples, "salespulse_end_to_end_delay_seconds", quantile="0.99") == 0.95
    assert (
        value(samples, "salespulse_consumer_stats_updated_timestamp_seconds")
        == datetime(2026, 3, 23, 12, 30, 20, tzinfo=UTC).timestamp()
    )
    assert (
        value(
            samples, "salespulse_batch_last_run_info", run_id=RUN_ID, mode="incremental", status="published"
        )
        == 1
    )
    steps = {
        dict(k[1])["step"]: v for k, v in samples.items() if k[0] == "salespulse_batch_step_duration_seconds"
    }
    assert steps == STEPS
    assert value(samples, "salespulse_batch_last_run_duration_seconds") == 330
    assert (
        value(samples, "salespulse_batch_last_run_finished_timestamp_seconds")
        == FINISHED.replace(tzinfo=UTC).timestamp()
    )
    midnight = datetime(dataset.watermark.year, dataset.watermark.month, dataset.watermark.day, tzinfo=UTC)
    assert value(samples, "salespulse_batch_watermark_timestamp_seconds") == midnight.timestamp()


def test_quarantine_counts_move(staff_client: Any, dataset: Dataset) -> None:
    names = Names.from_settings()
    _, before = parse(_metrics(staff_client))
    root = names.zone("quarantine")
    (root / "csv").mkdir(parents=True, exist_ok=True)
    (root / "files").mkdir(parents=True, exist_ok=True)
    rejected = root / "csv" / "metrics-test.rejected.csv"
    # A quoted newline inside a field is one row, not two.
    rejected.write_text(
        "order_id,quantity,source_file,line_number,reason\n"
        "O1,-3,a.csv,2,quantity: must be > 0\n"
        '"O\n2",x,a.csv,3,quantity: not an integer\n'
        "O3,,a.csv,5,quantity: missing\n",
        encoding="utf-8",
    )
    unreadable = root / "files" / "metrics-test-broken.csv"
    unreadable.write_bytes(b"\x00\x01")
    (root / "files" / "metrics-test-broken.csv.reason.txt").write_text("not UTF-8 text", encoding="utf-8")
    try:
        _, after = parse(_metrics(staff_client))
        assert value(after, "salespulse_quarantine_rows") == value(before, "salespulse_quarantine_rows") + 3
        assert value(after, "salespulse_quarantine_files") == value(before, "salespulse_quarantine_files") + 1
    finally:
        rejected.unlink()
        unreadable.unlink()
        (root / "files" / "metrics-test-broken.csv.reason.txt").unlink()


def test_websocket_clients_gauge_moves(users: Any, staff_client: Any, dataset: Dataset) -> None:
    from config.asgi import application

    login = Client()
    login.force_login(users["analyst"])
    cookie = (b"cookie", f"sessionid={login.cookies['sessionid'].value}".encode())

    def clients() -> float:
        return value(parse(_metrics(staff_client))[1], "salespulse_websocket_clients")

    async def run() -> list[float]:
        seen = [await asyncio.to_thread(clients)]
        comms = []
        for _ in range(2):
            comm = WebsocketCommunicator(application, "/ws/live/", headers=[ORIGIN, cookie])
            connected, _ = await comm.connect(timeout=5)
            assert connected
            await comm.receive_from(timeout=5)  # snapshot: connect has finished
            comms.append(comm)
            seen.append(await asyncio.to_thread(clients))
        for comm in comms:
            await comm.disconnect()
            seen.append(await asyncio.to_thread(clients))
        # A refused (anonymous) handshake is never counted.
        anonymous = WebsocketCommunicator(application, "/ws/live/", headers=[ORIGIN])
        connected, _ = await anonymous.connect(timeout=5)
        assert not connected
        await anonymous.disconnect()
        seen.append(await asyncio.to_thread(clients))
        return seen

    seen = asyncio.run(run())
    base = seen[0]
    assert seen == [base, base + 1, base + 2, base + 1, base, base]


def test_healthz_is_anonymous_and_reports_both_stores(django_app) -> None:
    from django.test import Client

    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}
