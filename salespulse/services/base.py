"""What every embedded service has in common: a folder, a pid file, a log, a status."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from salespulse.services import process
from salespulse.settings import Settings

HEALTH_TIMEOUT_S = 90.0


class ServiceError(RuntimeError):
    """A service could not be started, reached or stopped; the message says why."""


@dataclass(frozen=True, slots=True)
class Status:
    name: str
    url: str  # password masked
    embedded: bool
    running: bool
    healthy: bool
    version: str
    detail: str

    def line(self) -> str:
        mode = "embedded" if self.embedded else "configured"
        health = "healthy" if self.healthy else "DOWN"
        return f"{self.name:<9} {health:<8} {mode:<10} {self.url:<40} {self.version}  {self.detail}".rstrip()


def mask(url: str) -> str:
    """Hide the password of a URL for printing."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


def secret(settings: Settings, name: str) -> str:
    """A password of the embedded stack, generated once and kept in a 0600 file."""
    path = settings.services_dir / "secrets.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with process.file_lock(settings.services_dir / ".secrets.lock"):
        data: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        if name not in data:
            data[name] = secrets.token_urlsafe(18)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=2))
            os.chmod(tmp, 0o600)
            tmp.replace(path)
    return data[name]


class EmbeddedService(ABC):
    """One service that the project starts itself when its URL is not configured."""

    name: str

    def __init__(self, settings: Settings):
        self.settings = settings
        self.dir = settings.services_dir / self.name
        self.pid_file = self.dir / f"{self.name}.pid"
        self.log_file = self.dir / f"{self.name}.log"

    # -- configuration ----------------------------------------------------
    @property
    @abstractmethod
    def configured_url(self) -> str | None: ...

    @property
    @abstractmethod
    def local_url(self) -> str: ...

    @property
    def embedded(self) -> bool:
        return self.configured_url is None

    @property
    def url(self) -> str:
        return self.configured_url or self.local_url

    # -- lifecycle ----------------------------------------------------------
    @property
    @abstractmethod
    def executable(self) -> Path: ...

    def pid(self) -> int | None:
        """Pid of the process this project started, if it still runs."""
        pid = process.read_pid(self.pid_file)
        if pid is not None and process.pid_runs(pid, self.executable):
            return pid
        return None

    def running(self) -> bool:
        return self.pid() is not None

    @abstractmethod
    def _start(self) -> None: ...

    def _stop(self, pid: int) -> None:
        process.terminate(pid)

    def _ensure_ready(self) -> None:
        """Idempotent set-up after the process runs (e.g. create the database)."""
        return None

    @abstractmethod
    def probe(self) -> str:
        """Connect to :attr:`url` and return the server's version; raise when unhealthy."""

    def start(self) -> None:
        """Start the embedded server if it is not running, then wait until healthy."""
        if not self.embedded:
            return
        if not self.running():
            self.dir.mkdir(parents=True, exist_ok=True)
            self._start()
        self._ensure_ready()
        if not process.wait_until(self._healthy, HEALTH_TIMEOUT_S, 0.2):
            raise ServiceError(
                f"{self.name} did not become healthy within {HEALTH_TIMEOUT_S:.0f}s; "
                f"log {self.log_file}:\n{process.tail(self.log_file)}"
            )

    def stop(self) -> bool:
        """Stop the embedded server if this project started it; True if one was stopped."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        self._stop(pid)
        self.pid_file.unlink(missing_ok=True)
        return True

    def reset(self) -> None:
        """Stop, then delete the service's data (only under ``data/services``)."""
        self.stop()
        if self.dir.exists():
            shutil.rmtree(self.dir)

    def _healthy(self) -> bool:
        self.probe()
        return True

    def status(self) -> Status:
        running = self.running() if self.embedded else True
        try:
            version, healthy, detail = self.probe(), True, ""
        except Exception as exc:
            version, healthy, detail = (
                "-",
                False,
                str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__,
            )
        return Status(self.name, mask(self.url), self.embedded, running, healthy, version, detail)
