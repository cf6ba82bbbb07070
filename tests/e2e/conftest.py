"""The browser test's stack: daphne + relay as real subprocesses, data in both layers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django_support import DJANGO_DIR, django_ready, load_layers, make_events
from e2e_support import ARTIFACTS, PASSWORD, Server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing listening on {port}")


@pytest.fixture(scope="session")
def server(stack: Any) -> Iterator[Server]:
    django_ready()
    from django.contrib.auth import get_user_model

    from salespulse.reference import get_catalogue

    users = get_user_model()
    for name, staff in (("e2e-analyst", False), ("e2e-staff", True)):
        user, _ = users.objects.get_or_create(username=name, defaults={"is_staff": staff})
        user.set_password(PASSWORD)
        user.save()
    catalogue = get_catalogue()
    dataset = make_events(catalogue, datetime.now(UTC).date())
    load_layers(dataset, catalogue)
    ARTIFACTS.mkdir(exist_ok=True)
    port = _free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "PYTHONUNBUFFERED": "1"}
    logs = (ARTIFACTS / "daphne.log").open("w"), (ARTIFACTS / "relay.log").open("w")
    daphne = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
        cwd=DJANGO_DIR,
        env=env,
        stdout=logs[0],
        stderr=subprocess.STDOUT,
    )
    relay = subprocess.Popen(
        [sys.executable, "manage.py", "relay"],
        cwd=DJANGO_DIR,
        env=env,
        stdout=logs[1],
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_port(port, daphne)
        yield Server(f"http://127.0.0.1:{port}", dataset, catalogue)
    finally:
        for proc in (relay, daphne):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()
        load_layers(dataset, catalogue)  # undo the live events this test added


@pytest.fixture(scope="session")
def browser(server: Server) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=os.environ.get("SALESPULSE_CHROMIUM", "/usr/bin/chromium"),
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield chromium
        finally:
            chromium.close()
