"""The nightly DAG on real Airflow 3: it parses cleanly, and a full run builds the expected warehouse.

Airflow runs in subprocesses with their own ``AIRFLOW_HOME`` (SQLite metadata
in a temporary folder): importing Airflow configures logging and settings for
the whole process, which must not leak into the rest of the test session.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg2
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import redis

from salespulse import orchestration
from salespulse.names import Names
from salespulse.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "airflow" / "dags"
BIN = Path(sys.executable).parent
DAG_ID = "salespulse_nightly"

#: The DAG as designed: each task and the tasks right after it.
EXPECTED_TASKS = {
    "ingest_csv": ["spark_rebuild"],
    "spark_rebuild": ["quality_gate"],
    "quality_gate": ["publish"],
    "publish": ["trim_speed"],
    "trim_speed": ["announce"],
    "announce": [],
}

#: Runs inside a fresh interpreter: load the DagBag, print what the tests check, as JSON.
DAGBAG_PROBE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
out = {"import_errors": {str(k): str(v) for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    tt = dag.timetable
    out["dags"][dag_id] = {
        "cron": getattr(tt, "expression", None),
        "timezone": str(getattr(tt, "timezone", "")),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "start_date": dag.start_date.isoformat() if dag.start_date else None,
        "params": {k: dag.params.get_param(k).dump() for k in dag.params},
        "tasks": {
            t.task_id: {
                "downstream": sorted(t.downstream_task_ids),
                "retries": t.retries,
                "backoff": float(t.retry_exponential_backoff or 0),
                "retry_delay_s": t.retry_delay.total_seconds(),
                "max_retry_delay_s": t.max_retry_delay.total_seconds() if t.max_retry_delay else None,
            }
            for t in dag.tasks
        },
    }
out["parse_time_imports"] = sorted(
    m for m in ("pyspark", "psycopg2", "redis", "salespulse.batch", "salespulse.warehouse")
    if m in sys.modules
)
print("DAGBAG_JSON=" + json.dumps(out))
"""


def airflow_env(home: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of an isolated Airflow: its own home and SQLite metadata, our DAGs only."""
    env = dict(os.environ if base is None else base)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    return env


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("airflow-dagbag")
    out = subprocess.run(
        [sys.executable, "-c", DAGBAG_PROBE, str(DAGS)],
        env=airflow_env(home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("DAGBAG_JSON="))
    return json.loads(line.removeprefix("DAGBAG_JSON="))


# -- the DAG's shape ----------------------------------------------------------------
def test_dagbag_has_no_import_errors(dagbag: dict) -> None:
    assert dagbag["import_errors"] == {}
    assert sorted(dagbag["dags"]) == [DAG_ID]
    assert not (REPO / "airflow" / "__init__.py").exists(), "airflow/__init__.py would shadow Airflow"


def test_dag_schedule_and_run_policy(dagbag: dict) -> None:
    dag = dagbag["dags"][DAG_ID]
    assert dag["cron"] == "0 2 * * *"
    assert dag["timezone"] == "UTC"
    assert dag["catchup"] is False
    assert dag["max_active_runs"] == 1
    assert dag["start_date"].endswith("+00:00")
    mode = dag["params"]["mode"]
    assert mode["value"] == "incremental"
    assert mode["schema"]["enum"] == ["incremental", "full"]


def test_dag_tasks_and_dependencies(dagbag: dict) -> None:
    tasks = dagbag["dags"][DAG_ID]["tasks"]
    assert {tid: t["downstream"] for tid, t in tasks.items()} == EXPECTED_TASKS
    for tid, t in tasks.items():
        assert t["retries"] >= 2, tid
        assert t["backoff"] > 1.0, tid  # exponential back-off
        assert t["retry_delay_s"] == 60, tid
        assert t["max_retry_delay_s"] == 20 * 60, tid


def test_dag_does_no_work_at_parse_time(dagbag: dict) -> None:
    assert dagbag["parse_time_imports"] == []


# -- what the tasks run (pure) ----------------------------------------------------
def test_watermark_comes_from_the_data_interval() -> None:
    nightly = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    assert orchestration.watermark_for(nightly) == date(2026, 3, 10)
    manual = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)
    assert orchestration.watermark_for(None, manual) == date(2026, 3, 10)
    with pytest.raises(orchestration.OrchestrationError):
        orchestration.watermark_for(None, None)


def test_command_lines_follow_the_plan() -> None:
    class Run:
        run_after = datetime(2026, 3, 11, 5, 0, tzinfo=UTC)

    context = {"params": {"mode": "full"}, "data_interval_end": None, "dag_run": Run()}
    plan = orchestration.RunPlan.from_context(context)
    assert plan == orchestration.RunPlan("full", date(2026, 3, 11))
    exe = str(BIN / "salespulse")
    assert orchestration.rebuild_command(plan) == [
        exe, "batch", "--mode", "full", "--watermark", "2026-03-11", "--steps", "build,load",
    ]  # fmt: skip
    assert orchestration.quality_gate_command() == [exe, "publish", "--check-only"]
    assert orchestration.publish_command() == [exe, "publish"]
    assert orchestration.trim_command(plan) == [exe, "trim-speed", "--watermark", "2026-03-11"]
    assert orchestration.announce_command(plan)[-1] == "--announce"
    assert orchestration.shell(["a b", "c"]) == "exec 'a b' c"
    landing = str(orchestration.landing_dir())
    assert orchestration.ingest_command() == [exe, "ingest-csv", landing]
    assert orchestration.ingest_shell() == f"mkdir -p {landing} && exec {exe} ingest-csv {landing}"
    with pytest.raises(orchestration.OrchestrationError):
        orchestration.RunPlan.from_context({"params": {"mode": "weekly"}, "dag_run": Run()})


# -- a full run -------------------------------------------------------------------
W = date(2026, 1, 6)  # the run's logical date: watermark = data_interval_end's date
CSV = (
    "Order ID;Customer ID;Product ID;Qty;Unit Price;Order Date\n"
    "AF-1;CU0000001;BK0000001;2;12,50;2026-01-03\n"
    "AF-2;CU0000002;NOT-A-BOOK;1;3,00;04.01.2026\n"  # unknown product: loaded, unknown member
    "AF-3;CU0000003;BK0000002;0;5,00;2026-01-04\n"  # quantity 0: rejected
)


def expected_from_raw(raw_dir: Path, watermark: date) -> tuple[dict, dict]:
    """Per day and per (day, region) figures from the raw Parquet files, with pyarrow only.

    Dedup on ``event_id`` keeps the latest ``ingested_at``; days from the watermark on are
    left out (the speed layer's); measures as in docs/CONTRACTS.md.
    """
    files = sorted(raw_dir.rglob("*.parquet"))
    assert files, f"no raw files under {raw_dir}"
    table = pa.concat_tables([pq.read_table(f, partitioning=None) for f in files])
    table = table.filter(pc.less(table["event_date"], pa.scalar(watermark, pa.date32())))
    latest: dict[str, dict] = {}
    for row in table.select(
        [
            "event_id",
            "ingested_at",
            "event_type",
            "event_date",
            "line_no",
            "quantity",
            "revenue_cents",
            "region",
        ]
    ).to_pylist():
        kept = latest.get(row["event_id"])
        if kept is None or row["ingested_at"] > kept["ingested_at"]:
            latest[row["event_id"]] = row
    daily: dict = defaultdict(lambda: [0, 0, 0, 0, 0])  # revenue, orders, units, events, refunds
    region: dict = defaultdict(lambda: [0, 0, 0, 0])  # revenue, orders, units, events
    for row in latest.values():
        refund = row["event_type"] == "refund"
        figures = (
            row["revenue_cents"],
            int(not refund and row["line_no"] == 1),
            -row["quantity"] if refund else row["quantity"],
            1,
        )
        for i, value in enumerate(figures):
            daily[row["event_date"]][i] += value
            region[(row["event_date"], row["region"])][i] += value
        daily[row["event_date"]][4] += int(refund)
    return {k: tuple(v) for k, v in daily.items()}, {k: tuple(v) for k, v in region.items()}


def run_dags_test(env: dict[str, str], log: Path, timeout: float = 600) -> int:
    """``airflow dags test``; stops at the first failed attempt instead of sitting out retries."""
    with open(log, "w") as handle:
        proc = subprocess.Popen(
            [str(BIN / "airflow"), "dags", "test", DAG_ID, W.isoformat()],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + timeout
        assert proc.stdout is not None
        for line in proc.stdout:
            handle.write(line)
            if "new_state=up_for_retry" in line or "new_state=failed" in line or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                return -1
        return proc.wait()


def tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.mark.slow
def test_dags_test_builds_the_expected_warehouse(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Own database, lake and key prefix on the session's servers: other tests publish too.
    database = f"test_{stack.run_id}_airflow"
    admin = psycopg2.connect(stack.database_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{database}"')
        cur.execute(f'CREATE DATABASE "{database}"')
    database_url = stack.database_url.rsplit("/", 1)[0] + "/" + database
    env = dict(stack.env)
    env.update(
        {
            "DATABASE_URL": database_url,
            "SALESPULSE_DATA_DIR": str(tmp_path / "data"),
            "SALESPULSE_REDIS_PREFIX": f"t{stack.run_id}af",
            "SALESPULSE_BOOKS": "200",
        }
    )
    settings = load_settings(env)
    names = Names.from_settings(settings)
    home = tmp_path / "airflow"
    home.mkdir()
    env = airflow_env(home, env)
    try:
        _full_run(env, settings, names, database_url, home, tmp_path)
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()


def _full_run(env, settings, names, database_url, home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    salespulse = str(BIN / "salespulse")
    # History over the 5 days up to and including W: the last day is past the watermark.
    out = subprocess.run(
        [salespulse, "generate", "--books", "200", "--sales", "2000", "--days", "5", "--end", W.isoformat(),
         "--no-progress"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    names.landing_dir.mkdir(parents=True)
    (names.landing_dir / "sales_data_2026-01-04.csv").write_text(CSV)

    r = redis.Redis.from_url(env["REDIS_URL"], decode_responses=True)
    old_key, today_key = names.day_key("totals", W - timedelta(days=3)), names.day_key("totals", W)
    for key in (old_key, today_key):
        r.hset(key, mapping={"revenue_cents": 1})
    pubsub = r.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(names.updates_channel)
    messages: list[dict] = []
    stop = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            message = pubsub.get_message(timeout=0.5)
            if message and message["type"] == "message":
                messages.append(json.loads(message["data"]))

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()

    migrate = subprocess.run(
        [str(BIN / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True, timeout=180
    )
    assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-2000:]
    log = tmp_path / "dags-test.log"
    started = time.monotonic()
    code = run_dags_test(env, log)
    seconds = time.monotonic() - started
    stop.set()
    listener.join(timeout=5)
    pubsub.close()
    print(f"airflow dags test took {seconds:.1f}s")
    assert code == 0, f"airflow dags test failed ({code}); log {log}:\n{tail(log)}"

    with sqlite3.connect(home / "airflow.db") as meta:
        states = dict(meta.execute("SELECT task_id, state FROM task_instance WHERE dag_id = ?", (DAG_ID,)))
        (run_state,) = meta.execute("SELECT state FROM dag_run WHERE dag_id = ?", (DAG_ID,)).fetchone()
    assert states == dict.fromkeys(EXPECTED_TASKS, "success")
    assert run_state == "success"

    daily, by_region = expected_from_raw(names.zone("raw") / "sales", W)
    assert sorted(daily) == [W - timedelta(days=d) for d in (4, 3, 2, 1)]
    schema, meta_schema = settings.pg_schema, settings.pg_schema + "_meta"
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                f"SELECT date, revenue_cents, orders, units, events, refunds FROM {schema}.agg_daily_sales"
            )
            assert {row[0]: tuple(row[1:]) for row in cur.fetchall()} == daily
            cur.execute(
                "SELECT date, region_code, revenue_cents, orders, units, events "
                f"FROM {schema}.agg_daily_region"
            )
            assert {(row[0], row[1]): tuple(row[2:]) for row in cur.fetchall()} == by_region
            cur.execute(f"SELECT COUNT(*), SUM(revenue_cents) FROM {schema}.fct_sales")
            assert cur.fetchone() == (
                sum(v[3] for v in daily.values()),
                sum(v[0] for v in daily.values()),
            )
            cur.execute(f"SELECT run_id, status, watermark, rows_fact FROM {meta_schema}.batch_runs")
            runs = cur.fetchall()
            cur.execute(
                f"SELECT rows_read, rows_loaded, rows_rejected FROM {meta_schema}.csv_file_reports "
                "WHERE file_name = 'sales_data_2026-01-04.csv'"
            )
            assert cur.fetchall() == [(3, 2, 1)]
    finally:
        conn.close()
    assert [(status, watermark) for _, status, watermark, _ in runs] == [("published", W)]
    run_id, _, _, rows_fact = runs[0]
    assert rows_fact == sum(v[3] for v in daily.values())

    # Trim and announce: old day keys gone, today's kept, watermark and run announced.
    assert r.get(names.key("watermark")) == W.isoformat()
    assert r.get(names.key("batch", "latest")) == run_id
    assert not r.exists(old_key) and r.exists(today_key)
    announced = {"type": "batch_published", "run_id": run_id, "watermark": W.isoformat()}
    assert announced in messages
    r.close()
