"""Crash safety: consumers killed mid-batch (injected or SIGKILL) lose nothing and count nothing twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import redis

from salespulse.names import Names
from salespulse.settings import load_settings
from salespulse.stream import reconcile
from salespulse.stream.consumer import CRASH_EXIT_CODE, CRASH_POINTS

CLI = [sys.executable, "-m", "salespulse.cli"]
CONSUME = ["consume", "--session-timeout-ms", "2000", "--batch-size", "500", "--batch-wait-ms", "30"]


def scenario_env(stack, tmp_path: Path) -> dict[str, str]:
    tag = uuid.uuid4().hex[:6]
    env = dict(stack.env)
    env.update(
        SALESPULSE_TOPIC_PREFIX=f"{stack.settings.topic_prefix}{tag}.",
        SALESPULSE_REDIS_PREFIX=f"{stack.settings.redis_prefix}:{tag}",
        SALESPULSE_DATA_DIR=str(tmp_path / tag),
    )
    return env


def run(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout)


def check(env: dict[str, str], stack) -> dict:
    settings = load_settings(env)
    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    try:
        return reconcile.verify(settings, Names.from_settings(settings).sales_topic, client)
    finally:
        client.close()


def assert_exact_once(report: dict, events: int) -> None:
    assert report["events"] == events
    assert report["differences"] == []
    assert report["lake_duplicates"] == [] and report["lake_missing"] == [] and report["lake_extra"] == []
    assert report["partial_files"] == []


def test_crash_injected_between_dlq_lake_redis_and_commit(stack, tmp_path) -> None:
    """One consumer per crash point, in parallel: dies at that point of its 3rd batch, restarts."""
    envs = {point: scenario_env(stack, tmp_path) for point in CRASH_POINTS}
    for env in envs.values():
        done = run(
            env, "produce", "--rate", "0", "--count", "3000", "--seed", "3", "--malformed-ratio", "0.01"
        )
        assert done.returncode == 0, done.stderr
    crashing = {
        point: subprocess.Popen(
            [*CLI, *CONSUME, "--until-idle", "2", "--crash-at", f"{point}:3"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for point, env in envs.items()
    }
    for point, proc in crashing.items():
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == CRASH_EXIT_CODE, f"{point}: {err[-2000:]}"
        assert f"crash injected at {point}" in err
    restarted = {
        point: subprocess.Popen(
            [*CLI, *CONSUME, "--until-idle", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for point, env in envs.items()
    }
    for point, proc in restarted.items():
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{point}: {err[-2000:]}"
    for point, env in envs.items():
        report = check(env, stack)
        assert report["messages"] == 3000, point
        assert_exact_once(report, report["events"])
        assert report["events"] > 2900, point


@pytest.mark.slow
def test_sigkill_at_random_points_while_the_producer_runs(stack, tmp_path) -> None:
    env = scenario_env(stack, tmp_path)
    rnd = random.Random(int.from_bytes(os.urandom(4), "big"))
    producer = subprocess.Popen(
        [*CLI, "produce", "--rate", "3000", "--duration", "14", "--seed", "8", "--late-ratio", "0.02",
         "--late-hours", "1", "30", "--malformed-ratio", "0.002"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    kills = 0
    logs = []
    try:
        while producer.poll() is None and kills < 4:
            consumer = subprocess.Popen(
                [*CLI, *CONSUME], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            lines: list[str] = []
            reader = threading.Thread(target=lambda c=consumer, out=lines: out.extend(c.stderr), daemon=True)
            reader.start()
            deadline = time.monotonic() + 60
            while not any("assigned" in line for line in lines) and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(rnd.uniform(0.2, 2.0))  # somewhere mid-stream
            consumer.send_signal(signal.SIGKILL)
            consumer.wait(10)
            reader.join(5)
            logs.append("".join(lines))
            kills += 1
    finally:
        _, perr = producer.communicate(timeout=120)
    assert producer.returncode == 0, perr
    assert kills >= 3
    assert all("assigned" in log for log in logs)  # the killed consumers were really consuming
    final = run(env, *CONSUME, "--until-idle", "2", timeout=180)
    assert final.returncode == 0, final.stderr[-2000:]
    report = check(env, stack)
    assert report["events"] > 30_000
    assert_exact_once(report, report["events"])
