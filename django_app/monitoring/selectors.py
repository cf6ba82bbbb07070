"""What ``/metrics`` reports, read from where each layer already records it (docs/CONTRACTS.md).

* The speed consumer writes ``P:stats:consumer`` (throughput, batch latency, lag per partition,
  end-to-end delay percentiles, event and dead-letter totals) and ``P:stats:late_events``.
* The batch job records each run with its step durations in ``warehouse_meta.batch_runs``.
* CSV ingestion writes rejected rows and unreadable files to the lake's quarantine folder.
* The live WebSocket consumer keeps ``P:stats:ws_clients`` (see :mod:`live.services`).

Nothing here keeps state between scrapes except a cache of quarantine row counts per file
(keyed by path, size and modification time), so a scrape does not re-parse unchanged files.
A value nobody has recorded yet is left out (a family with HELP/TYPE and no sample), never
reported as a made-up 0.
"""

from __future__ import annotations

import csv
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from api import selectors
from api.speed import SpeedViews
from live.services import ws_clients_get

from monitoring.exposition import Metric
from salespulse.names import QUARANTINE_ZONE, Names

PREFIX = "salespulse_"

_row_cache: dict[tuple[str, int, int], int] = {}
_row_cache_lock = threading.Lock()


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _timestamp(iso: str | None) -> float | None:
    """ISO text (``Z`` or offset; naive is UTC as everywhere in the warehouse) -> epoch seconds."""
    if not iso:
        return None
    try:
        parsed = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _m(name: str, kind: str, help_text: str) -> Metric:
    return Metric(PREFIX + name, kind, help_text)


# -- the speed consumer ------------------------------------------------------------------------


def consumer_metrics(views: SpeedViews) -> list[Metric]:
    raw: dict[str, str] = views.r.hgetall(views.n.key("stats", "consumer"))  # type: ignore[assignment]
    rate = _m("consumer_events_per_second", "gauge", "Events applied per second by the speed consumer.")
    events = _m("consumer_events_total", "counter", "Sale events applied to the speed views.")
    dlq = _m("dlq_events_total", "counter", "Events the speed consumer sent to the dead-letter topic.")
    lag_total = _m("consumer_lag_messages", "gauge", "Messages not yet consumed, all partitions.")
    lag = _m("consumer_partition_lag_messages", "gauge", "Messages not yet consumed, per partition.")
    latency = _m("consumer_batch_latency_seconds", "gauge", "Time the consumer took for its last batch.")
    delay = _m(
        "end_to_end_delay_seconds",
        "gauge",
        "Delay from an event's event time to its batch being applied in Redis (recent percentiles).",
    )
    updated = _m(
        "consumer_stats_updated_timestamp_seconds",
        "gauge",
        "When the consumer last wrote its stats (Unix time); stale means the consumer is down.",
    )
    for metric, field in ((rate, "events_per_s"), (events, "events_total"), (dlq, "dlq_total"),
                          (lag_total, "lag_total")):  # fmt: skip
        if (value := _number(raw.get(field))) is not None:
            metric.add(_exact(value))
    if (value := _number(raw.get("batch_latency_ms"))) is not None:
        latency.add(value / 1000)
    partitions = [(k.split(":", 1)[1], _number(v)) for k, v in raw.items() if k.startswith("lag:")]
    for partition, value in sorted(partitions, key=lambda kv: (len(kv[0]), kv[0])):
        if value is not None:
            lag.add(_exact(value), partition=partition)
    for quantile, field in (("0.5", "delay_p50_ms"), ("0.99", "delay_p99_ms")):
        value = _number(raw.get(field))
        if value is not None:
            delay.add(value / 1000, quantile=quantile)
    if (ts := _timestamp(raw.get("updated_at"))) is not None:
        updated.add(ts)
    late = _m("late_events_total", "counter", "Stream events older than the batch watermark.")
    late.add(views.late_events())
    return [rate, events, dlq, lag_total, lag, latency, delay, updated, late]


def _exact(value: float) -> float | int:
    return int(value) if value.is_integer() else value


# -- the batch layer ---------------------------------------------------------------------------


def batch_metrics(views: SpeedViews) -> list[Metric]:
    info = _m("batch_last_run_info", "gauge", "The newest batch run (any status), as labels.")
    steps = _m("batch_step_duration_seconds", "gauge", "Duration of each step of the newest batch run.")
    duration = _m("batch_last_run_duration_seconds", "gauge", "Wall time of the newest batch run.")
    finished = _m(
        "batch_last_run_finished_timestamp_seconds",
        "gauge",
        "When the newest batch run finished (Unix time).",
    )
    watermark = _m(
        "batch_watermark_timestamp_seconds",
        "gauge",
        "The published batch watermark (UTC midnight, Unix time): the warehouse holds events before it.",
    )
    runs = selectors.batch_runs(1)
    if runs:
        run = runs[0]
        info.add(1, run_id=str(run["run_id"]), mode=str(run["mode"] or ""), status=str(run["status"] or ""))
        recorded = run.get("steps")
        step_values: dict[str, Any] = recorded if isinstance(recorded, dict) else {}
        for step, seconds in step_values.items():
            value = _number(seconds)
            if value is not None:
                steps.add(value, step=str(step))
        started, ended = _timestamp(run["started_at"]), _timestamp(run["finished_at"])
        if started is not None and ended is not None:
            duration.add(ended - started)
        if ended is not None:
            finished.add(ended)
    wm, _ = views.markers()
    if wm is None:
        published = selectors.latest_published_run()
        wm = date.fromisoformat(published["watermark"]) if published and published["watermark"] else None
    if wm is not None:
        watermark.add(_timestamp(wm.isoformat() + "T00:00:00+00:00") or 0.0)
    return [info, steps, duration, finished, watermark]


# -- quarantine --------------------------------------------------------------------------------


def _rows(path: Path) -> int:
    """Data rows of one rejected-rows CSV (header excluded), cached by path, size and mtime."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _row_cache_lock:
        if key in _row_cache:
            return _row_cache[key]
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        count = max(sum(1 for _ in csv.reader(fh)) - 1, 0)
    with _row_cache_lock:
        _row_cache[key] = count
    return count


def quarantine_metrics(names: Names) -> list[Metric]:
    rows = _m("quarantine_rows", "gauge", "CSV rows rejected into the lake's quarantine (all files).")
    files = _m("quarantine_files", "gauge", "Files quarantined whole (unreadable), with a reason file.")
    root = names.zone(QUARANTINE_ZONE)
    total = 0
    for path in sorted((root / "csv").glob("*.rejected.csv")):
        try:
            total += _rows(path)
        except OSError:
            continue  # removed while we looked
    rows.add(total)
    files.add(len(list((root / "files").glob("*.reason.txt"))))
    return [rows, files]


# -- the web tier ------------------------------------------------------------------------------


def web_metrics(views: SpeedViews) -> list[Metric]:
    clients = _m("websocket_clients", "gauge", "Live-page WebSocket clients connected, all web processes.")
    clients.add(ws_clients_get(views))
    return [clients]


def metrics_collect(views: SpeedViews | None = None) -> list[Metric]:
    """Every metric family, in a stable order."""
    views = views or SpeedViews()
    return [
        *consumer_metrics(views),
        *batch_metrics(views),
        *quarantine_metrics(views.n),
        *web_metrics(views),
    ]
