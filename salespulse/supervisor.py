"""Run a handful of long-lived child processes for the demo, and stop exactly those.

Each child runs in its own session (so a signal reaches its whole process
tree), logs to ``data/demo/logs/<name>.log``, and is recorded in
``data/demo/pids.json`` so ``salespulse demo --stop`` from another terminal
stops what this demo started and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from salespulse.services import process


@dataclass
class Child:
    name: str
    argv: list[str]
    pid: int
    log: Path


@dataclass
class Supervisor:
    state_dir: Path
    children: list[Child] = field(default_factory=list)

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "pids.json"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Child:
        log = self.log_dir / f"{name}.log"
        pid = process.spawn(argv, log, Path.cwd(), env=env)
        child = Child(name, argv, pid, log)
        self.children.append(child)
        self._save()
        return child

    def _save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        data = [{"name": c.name, "pid": c.pid, "exe": _exe(c.pid)} for c in self.children]
        self.pid_file.write_text(json.dumps(data, indent=2))

    def alive(self) -> list[Child]:
        return [c for c in self.children if process.pid_alive(c.pid)]

    def stop_all(self) -> list[str]:
        stopped = [c.name for c in self.children if process.pid_alive(c.pid)]
        for child in reversed(self.children):
            _stop_group(child.pid)
        self.children.clear()
        self.pid_file.unlink(missing_ok=True)
        return stopped

    def follow(self, stop: threading.Event, out=sys.stdout) -> None:  # type: ignore[no-untyped-def]
        """Print every child's new log lines, prefixed by its name, until ``stop`` is set."""
        positions = {c.name: 0 for c in self.children}
        width = max((len(c.name) for c in self.children), default=4)
        while not stop.is_set():
            for child in self.children:
                try:
                    with open(child.log, errors="replace") as handle:
                        handle.seek(positions[child.name])
                        for line in handle:
                            out.write(f"{child.name:<{width}} | {line}")
                        positions[child.name] = handle.tell()
                except FileNotFoundError:
                    continue
            out.flush()
            stop.wait(0.5)


def _exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def _stop_group(pid: int, timeout: float = 20.0) -> None:
    """SIGTERM the child's process group, then SIGKILL whatever is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _group_alive(pid):
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in {"Z", "X"}:
            return True
    return False


def stop_recorded(state_dir: Path) -> list[str]:
    """Stop the children another demo process recorded (``demo --stop``)."""
    pid_file = state_dir / "pids.json"
    if not pid_file.exists():
        return []
    stopped = []
    for entry in reversed(json.loads(pid_file.read_text())):
        pid = int(entry["pid"])
        if process.pid_alive(pid) and (not entry["exe"] or _exe(pid) == entry["exe"]):
            _stop_group(pid)
            stopped.append(entry["name"])
    pid_file.unlink(missing_ok=True)
    return stopped


def run_step(name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
    """Run one finite demo step in the foreground, streaming its output; raise on failure."""
    print(f"==> {name}: {' '.join(argv)}", flush=True)
    started = time.monotonic()
    subprocess.run(argv, env=env, check=True)
    print(f"==> {name}: done in {time.monotonic() - started:.1f}s", flush=True)
