"""Airflow 3 for the local stack: what ``airflow standalone`` runs, as managed services.

``airflow standalone`` keeps its components as children of one foreground
process and prints the login once; the local stack needs them in the
background, with logs in files, pid files so that ``down`` stops only what
``up`` started, and a login that can be shown again.  So we run the same
components (scheduler, DAG processor, triggerer, API server) ourselves, each
in its own session, all configured through environment variables derived
here (nothing is written to ``airflow.cfg``).

Metadata lives in SQLite under ``data/airflow``: Airflow 3 opens an async
engine beside the sync one, and for PostgreSQL that needs ``asyncpg``, which
is not in the lock.  SQLite is what ``airflow standalone`` uses too, and the
DAG is a single serial chain, so nothing is lost locally; the compose
deployment runs Airflow against PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from salespulse.services import process
from salespulse.settings import Settings, get_settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
ADMIN_USER = "admin"
#: Start order: the API server last, so its health answer covers the others.
COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server")
START_TIMEOUT_S = 120.0
HEALTH_PATH = "/api/v2/monitor/health"


class AirflowError(RuntimeError):
    """Airflow could not be configured, started or stopped; the message says why."""


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    name: str
    pid: int | None
    health: str  # "healthy", "unhealthy" or "-" (unknown)

    def line(self) -> str:
        running = f"pid {self.pid}" if self.pid else "not running"
        return f"{self.name:<14} {self.health:<10} {running}"


@dataclass(frozen=True, slots=True)
class Login:
    url: str
    user: str
    password: str

    def line(self) -> str:
        return f"Airflow UI {self.url}  login: {self.user} / {self.password}"


@dataclass(frozen=True, slots=True)
class AirflowLocal:
    """One local Airflow installation: its folder, its DAGs and where its API server listens."""

    home: Path
    dags_folder: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, *, home: Path | None = None, port: int | None = None
    ) -> AirflowLocal:
        s = settings or get_settings()
        return cls(
            home=(home or s.data_dir / "airflow").resolve(),
            dags_folder=s.home / "airflow" / "dags",
            port=port or DEFAULT_PORT,
        )

    # -- files ------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def database(self) -> Path:
        return self.home / "airflow.db"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def passwords_file(self) -> Path:
        return self.home / "passwords.json"

    @property
    def secrets_file(self) -> Path:
        return self.home / "secrets.json"

    def pid_file(self, component: str) -> Path:
        return self.run_dir / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        return self.logs_dir / f"{component}.log"

    # -- configuration ----------------------------------------------------------
    def _private_json(self, path: Path, defaults: dict[str, str]) -> dict[str, str]:
        """Read a 0600 JSON file, adding missing keys (generated once, kept across restarts)."""
        self._make_home()
        with process.file_lock(self.home / ".secrets.lock"):
            data: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
            missing = {k: v for k, v in defaults.items() if k not in data}
            if missing or not path.exists():
                data.update(missing)
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(data, indent=2) + "\n")
                os.chmod(tmp, 0o600)
                tmp.replace(path)
        return data

    def _make_home(self) -> None:
        if not self.home.exists():
            # Private: the metadata database and the login live here.
            self.home.mkdir(parents=True, mode=0o700)

    def login(self) -> Login:
        """The admin login; the password is generated once and kept in ``passwords.json`` (0600)."""
        alphabet = "abcdefghkmnpqrstuvwxyzABCDEFGHKMNPQRSTUVWXYZ23456789"
        generated = "".join(secrets.choice(alphabet) for _ in range(16))
        passwords = self._private_json(self.passwords_file, {ADMIN_USER: generated})
        return Login(self.url, ADMIN_USER, passwords[ADMIN_USER])

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of every Airflow process of this installation (tasks inherit it).

        The JWT secret and the API secret key must be the same in every component, so they
        are generated once and kept beside the passwords (0600), never in ``airflow.cfg``.
        """
        keys = self._private_json(
            self.secrets_file,
            {"jwt_secret": secrets.token_urlsafe(32), "api_secret_key": secrets.token_urlsafe(32)},
        )
        self.login()  # make sure the passwords file exists before the API server reads it
        env = dict(os.environ if base is None else base)
        venv_bin = str(Path(sys.executable).parent)
        env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__AUTH_MANAGER": (
                    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.passwords_file),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.database}",
                "AIRFLOW__API__HOST": self.host,
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__SECRET_KEY": keys["api_secret_key"],
                "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs_dir),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            }
        )
        return env

    # -- processes --------------------------------------------------------------
    def pid(self, component: str) -> int | None:
        """Pid of a component this installation started, if that process still runs it."""
        pid = process.read_pid(self.pid_file(component))
        if pid is None or not process.pid_alive(pid):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return None
        # A recycled pid runs something else: only trust our own command line (which
        # Airflow may retitle, so match words rather than exact arguments).
        words = cmdline.replace("\0", " ").replace("_", "-")
        return pid if "airflow" in words and component in words else None

    def argv(self, component: str) -> list[str]:
        airflow = str(Path(sys.executable).parent / "airflow")
        if component == "api-server":
            return [airflow, component, "--host", self.host, "--port", str(self.port), "--workers", "1"]
        if component in ("scheduler", "triggerer"):
            # Task logs are local files the API server reads directly: no log-serving ports.
            return [airflow, component, "--skip-serve-logs"]
        return [airflow, component]

    def migrate(self, env: dict[str, str]) -> None:
        """Create or upgrade the metadata database (idempotent)."""
        log = self.log_file("db-migrate")
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as handle:
            out = subprocess.run(
                [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.home,
                timeout=300,
            )
        if out.returncode != 0:
            raise AirflowError(f"`airflow db migrate` failed; log {log}:\n{process.tail(log)}")

    def health(self, timeout: float = 3.0) -> dict[str, str]:
        """Component -> status from the API server's health endpoint (empty if unreachable)."""
        try:
            with urllib.request.urlopen(self.url + HEALTH_PATH, timeout=timeout) as response:
                body = json.loads(response.read())
        except (OSError, urllib.error.URLError, ValueError):
            return {}
        return {
            name.replace("_", "-"): str(info.get("status"))
            for name, info in body.items()
            if isinstance(info, dict)
        }

    def healthy(self) -> bool:
        report = self.health()
        wanted = ("metadatabase", *(c for c in COMPONENTS if c != "api-server"))
        return all(report.get(name) == "healthy" for name in wanted)

    def up(self, timeout: float = START_TIMEOUT_S) -> tuple[Login, float]:
        """Start what is not running, wait until the health endpoint says all is healthy.

        Returns the login and the seconds it took.
        """
        started_at = time.monotonic()
        self._make_home()
        with process.file_lock(self.home / ".airflow.lock"):
            if not self.dags_folder.is_dir():
                raise AirflowError(f"DAGs folder {self.dags_folder} does not exist")
            env = self.env()
            for folder in (self.logs_dir, self.run_dir):
                folder.mkdir(parents=True, exist_ok=True)
            if self.pid("api-server") is None and process.port_open(self.host, self.port):
                raise AirflowError(
                    f"port {self.port} is taken by a server this project did not start; use --port"
                )
            if not all(self.pid(c) for c in COMPONENTS):
                self.migrate(env)
            for component in COMPONENTS:
                if self.pid(component) is None:
                    pid = process.spawn(self.argv(component), self.log_file(component), self.home, env=env)
                    process.write_pid(self.pid_file(component), pid)
            process.wait_until(self._healthy_or_dead, timeout, 0.5)
            if not self.healthy():
                exited = [c for c in COMPONENTS if self.pid(c) is None]
                reason = f"exited: {', '.join(exited)}" if exited else f"not healthy within {timeout:.0f}s"
                details = "\n".join(
                    f"--- {c} ({self.log_file(c)}):\n{process.tail(self.log_file(c))}" for c in COMPONENTS
                )
                raise AirflowError(
                    f"Airflow is not healthy ({reason}; health: {self.health() or 'unreachable'}); "
                    f"`salespulse airflow down` stops what did start\n{details}"
                )
        return self.login(), time.monotonic() - started_at

    def _healthy_or_dead(self) -> bool:
        if any(self.pid(c) is None for c in COMPONENTS):
            return True  # a component exited: stop waiting, report it
        return self.healthy()

    def down(self, timeout: float = 30.0) -> list[str]:
        """Stop the components ``up`` started, with their whole process groups.

        All are asked at once (SIGTERM), so stopping takes as long as the slowest
        component's graceful shutdown, not the sum; what is left after ``timeout`` is killed.
        """
        if not self.home.is_dir():
            return []
        with process.file_lock(self.home / ".airflow.lock"):
            pids = {c: pid for c in reversed(COMPONENTS) if (pid := self.pid(c)) is not None}
            for pid in pids.values():
                _signal_group(pid, signal.SIGTERM)
            process.wait_until(lambda: not any(process.pid_alive(p) for p in pids.values()), timeout)
            for pid in pids.values():
                # Each component leads its own session, so its group is exactly what it
                # spawned (uvicorn, executor and parsing workers): kill any straggler.
                _signal_group(pid, signal.SIGKILL)
            process.wait_until(lambda: not any(process.pid_alive(p) for p in pids.values()), 5.0)
            for component in COMPONENTS:
                self.pid_file(component).unlink(missing_ok=True)
        return list(pids)

    def status(self) -> list[ComponentStatus]:
        report = self.health()
        if report:
            report["api-server"] = "healthy"  # it answered the health request itself
        return [ComponentStatus(c, self.pid(c), report.get(c, "-")) for c in COMPONENTS]


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
