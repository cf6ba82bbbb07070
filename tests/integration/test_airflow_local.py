"""``salespulse airflow up|status|down`` on real Airflow 3, beside (not on top of) a running one.

A temporary AIRFLOW_HOME and a free port keep it apart from the developer's
``data/airflow`` on 8080.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from salespulse.airflow_local import COMPONENTS, HEALTH_PATH, AirflowLocal

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def salespulse(home: Path, port: int, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "salespulse"), "airflow", "--home", str(home), "--port", str(port), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def get_json(url: str, token: str | None = None, data: dict | None = None) -> dict:
    request = urllib.request.Request(url, data=json.dumps(data).encode() if data else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


@pytest.mark.slow
def test_up_health_login_down(tmp_path: Path) -> None:
    home, port = tmp_path / "airflow", free_port()
    local = AirflowLocal(home=home, dags_folder=Path(), port=port)
    started = time.monotonic()
    up = salespulse(home, port, "up", "--timeout", "90")
    print(f"salespulse airflow up took {time.monotonic() - started:.1f}s")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        password = json.loads((home / "passwords.json").read_text())["admin"]
        assert f"login: admin / {password}" in up.stdout
        assert (home / "passwords.json").stat().st_mode & 0o777 == 0o600

        health = get_json(f"http://127.0.0.1:{port}{HEALTH_PATH}")
        assert {k: v["status"] for k, v in health.items()} == {
            "metadatabase": "healthy",
            "scheduler": "healthy",
            "triggerer": "healthy",
            "dag_processor": "healthy",
        }
        token = get_json(
            f"http://127.0.0.1:{port}/auth/token", data={"username": "admin", "password": password}
        )["access_token"]
        deadline, dag_ids = time.monotonic() + 60, []
        while time.monotonic() < deadline and "salespulse_nightly" not in dag_ids:
            dags = get_json(f"http://127.0.0.1:{port}/api/v2/dags", token)
            dag_ids = [d["dag_id"] for d in dags["dags"]]
            time.sleep(1)
        assert dag_ids == ["salespulse_nightly"]  # ours, and no example DAGs

        again = salespulse(home, port, "up")  # idempotent: nothing new is started
        assert again.returncode == 0, again.stderr
        status = salespulse(home, port, "status")
        assert status.returncode == 0, status.stdout + status.stderr
        pids = {c: local.pid(c) for c in COMPONENTS}
        assert all(pids.values()), pids
    finally:
        down = salespulse(home, port, "down")
    assert down.returncode == 0, down.stderr
    assert all(local.pid(c) is None for c in COMPONENTS)
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "the API server still listens"
