"""The demo's steps, each idempotent so a second ``make demo`` reuses what exists."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg2

from salespulse import services
from salespulse.names import Names
from salespulse.services import process
from salespulse.settings import get_settings
from salespulse.supervisor import Supervisor, run_step

DAG_ID = "salespulse_nightly"
DEMO_PASSWORD = os.environ.get("SALESPULSE_DEMO_PASSWORD", "salespulse-demo")


class DemoError(RuntimeError):
    """A demo step failed; the message says which and where its log is."""


def salespulse_cmd(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "salespulse"), *args]


def _started_file(state_dir: Path) -> Path:
    return state_dir / "started.json"


def _record(state_dir: Path, what: str) -> None:
    path = _started_file(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    done = json.loads(path.read_text()) if path.exists() else []
    if what not in done:
        path.write_text(json.dumps([*done, what]))


def record_services(state_dir: Path) -> None:
    """Remember which embedded services this demo is about to start (so it stops only those)."""
    for service in services.all_services():
        if service.embedded and not service.running():
            _record(state_dir, f"service:{service.name}")


def stop_started(state_dir: Path) -> list[str]:
    """Stop Airflow and the services the demo started; leave what was already running."""
    path = _started_file(state_dir)
    if not path.exists():
        return []
    done = json.loads(path.read_text())
    stopped = []
    if "airflow" in done:
        from salespulse.airflow_local import AirflowLocal

        if AirflowLocal.from_settings().down():
            stopped.append("airflow")
    by_name = {s.name: s for s in services.all_services()}
    for entry in reversed(done):
        if entry.startswith("service:") and by_name[entry.split(":", 1)[1]].stop():
            stopped.append(entry.split(":", 1)[1])
    path.unlink(missing_ok=True)
    return stopped


# -- history and the first batch ----------------------------------------------


def _history_marker(state_dir: Path) -> Path:
    return state_dir / "history.json"


def ensure_history(args: argparse.Namespace, state_dir: Path) -> None:
    settings = get_settings()
    wanted = {"sales": args.sales, "days": args.days, "books": settings.books, "seed": settings.seed}
    marker = _history_marker(state_dir)
    raw = Names.from_settings(settings).raw_sales_dir("generator")
    if marker.exists() and json.loads(marker.read_text()) == wanted and any(raw.rglob("*.parquet")):
        print(f"==> history: reusing {args.sales:,} sales over {args.days} days in {raw}")
        return
    run_step(
        "history",
        salespulse_cmd(
            "generate",
            "--books",
            str(settings.books),
            "--sales",
            str(args.sales),
            "--days",
            str(args.days),
        ),
    )
    state_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(wanted))


def published_runs() -> int:
    """How many batch runs have been published (0 when the warehouse was never built)."""
    try:
        conn = psycopg2.connect(services.urls().database, connect_timeout=5)
    except psycopg2.Error:
        return 0
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('warehouse_meta.batch_runs')")
            row = cur.fetchone()
            if not row or row[0] is None:
                return 0
            cur.execute(
                "SELECT count(*) FROM warehouse_meta.batch_runs"
                " WHERE status = 'published' AND pg_schema = %s",
                (get_settings().pg_schema,),
            )
            result = cur.fetchone()
            return int(result[0]) if result else 0
    finally:
        conn.close()


def ensure_airflow(args: argparse.Namespace, state_dir: Path):  # type: ignore[no-untyped-def]
    from salespulse.airflow_local import AirflowLocal

    airflow = AirflowLocal.from_settings(port=args.airflow_port)
    if not airflow.healthy():
        _record(state_dir, "airflow")
        print("==> airflow: starting (scheduler, DAG processor, triggerer, API server)", flush=True)
        _login, seconds = airflow.up()
        print(f"==> airflow: healthy in {seconds:.1f}s at {airflow.url}", flush=True)
    return airflow


def _airflow_cli(airflow, *args: str, timeout: float = 120) -> str:  # type: ignore[no-untyped-def]
    airflow_bin = str(Path(sys.executable).parent / "airflow")
    out = subprocess.run(
        [airflow_bin, *args],
        env=airflow.env(dict(os.environ)),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if out.returncode != 0:
        raise DemoError(f"`airflow {' '.join(args)}` failed: {out.stderr.strip()[-600:]}")
    return out.stdout


def json_array(text: str) -> list[dict[str, object]]:
    """The JSON array in a CLI's output (Airflow prints warnings before it on stdout)."""
    decoder = json.JSONDecoder()
    for pos, char in enumerate(text):
        if char == "[":
            try:
                value, _ = decoder.raw_decode(text[pos:])
            except json.JSONDecodeError:
                continue
            if isinstance(value, list) and all(isinstance(v, dict) for v in value):
                return value
    return []


def _runs(airflow) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    return json_array(_airflow_cli(airflow, "dags", "list-runs", DAG_ID, "-o", "json"))


def run_dag_once(airflow, timeout_s: float = 1200) -> None:  # type: ignore[no-untyped-def]
    """Run the nightly DAG once through the scheduler and wait for it.

    Unpausing makes Airflow schedule the latest 02:00 slot at once (catchup is off, so only
    that one); its incremental mode builds everything when nothing is published yet.  Only
    when no run appears is a full rebuild triggered by hand, so the demo never queues two.
    """
    _airflow_cli(airflow, "dags", "reserialize")
    _airflow_cli(airflow, "dags", "unpause", DAG_ID)
    run_id = None
    appear_by = time.monotonic() + 30
    while run_id is None and time.monotonic() < appear_by:
        active = [r for r in _runs(airflow) if r.get("state") in {"queued", "running"}]
        if active:
            run_id = str(active[0].get("run_id") or active[0].get("dag_run_id"))
            print(f"==> batch: waiting for the scheduled {DAG_ID} run {run_id}", flush=True)
        else:
            time.sleep(3)
    if run_id is None:
        run_id = f"demo__{time.strftime('%Y%m%dT%H%M%S')}"
        _airflow_cli(airflow, "dags", "trigger", DAG_ID, "--conf", json.dumps({"mode": "full"}), "-r", run_id)
        print(f"==> batch: triggered {DAG_ID} run {run_id} (full rebuild) in Airflow", flush=True)
    deadline = time.monotonic() + timeout_s
    state = "queued"
    while time.monotonic() < deadline:
        mine = [r for r in _runs(airflow) if (r.get("run_id") or r.get("dag_run_id")) == run_id]
        state = str(mine[0]["state"]) if mine else state
        if state == "success":
            print("==> batch: DAG run succeeded; the warehouse is published", flush=True)
            return
        if state == "failed":
            raise DemoError(f"the DAG run {run_id} failed: see the Airflow UI at {airflow.url}")
        time.sleep(5)
    raise DemoError(f"the DAG run {run_id} did not finish within {timeout_s:.0f}s (state {state})")


def prepare(args: argparse.Namespace, state_dir: Path) -> None:
    ensure_history(args, state_dir)
    airflow = ensure_airflow(args, state_dir)
    if published_runs() == 0:
        run_dag_once(airflow)
    else:
        print("==> batch: a published warehouse exists; the nightly DAG keeps it fresh", flush=True)


# -- the live part ----------------------------------------------------------------


def _wait_http(url: str, timeout: float) -> bool:
    def ok() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status < 500)
        except urllib.error.HTTPError as exc:
            return exc.code < 500

    return process.wait_until(ok, timeout, 0.5)


def start_live(args: argparse.Namespace, supervisor: Supervisor) -> None:
    supervisor.start("consumer", salespulse_cmd("consume"))
    produce = ["produce", "--rate", str(args.rate)]
    if args.interactions:
        # ~40 interactions per sale line: at 200 sales/s that is ~8K messages/s more on 2 cores.
        supervisor.start("funnel", salespulse_cmd("consume-interactions"))
        produce.append("--interactions")
    supervisor.start("producer", salespulse_cmd(*produce))
    env = dict(os.environ, SALESPULSE_DEMO_PASSWORD=DEMO_PASSWORD)
    supervisor.start("web", salespulse_cmd("web", "--port", str(args.port), "--create-demo-users"), env=env)
    if not _wait_http(f"http://127.0.0.1:{args.port}/login/", 120):
        raise DemoError(f"the web app did not answer on port {args.port}; see data/demo/logs/web.log")
    # Change data capture from the shop tables, which the web app's migrations created.
    supervisor.start("cdc", salespulse_cmd("cdc"))


def print_banner(args: argparse.Namespace, seconds: float) -> None:
    from salespulse.airflow_local import AirflowLocal

    airflow = AirflowLocal.from_settings(port=args.airflow_port)
    login = airflow.login()
    base = f"http://127.0.0.1:{args.port}"
    extra = " (+ shopper interactions)" if args.interactions else ""
    print(
        f"""
SalesPulse is running (ready in {seconds:.0f}s):
  Dashboard      {base}/            login analyst / {DEMO_PASSWORD}  (staff: staff / {DEMO_PASSWORD})
  Live page      {base}/live/
  API docs       {base}/api/docs/
  Airflow UI     {airflow.url}            login {login.user} / {login.password}
  Producer       {args.rate:g} events/s into Kafka{extra}; consumer -> Redis + lake
  Shop admin     {base}/admin/shop/       order-line edits reach the stream through CDC
                 (a superuser: cd django_app && ../.venv/bin/python manage.py createsuperuser)
Logs: data/demo/logs/   Stop: Ctrl-C here, or `make demo-stop` from another terminal.
""",
        flush=True,
    )
