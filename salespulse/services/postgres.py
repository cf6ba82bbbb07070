"""Embedded PostgreSQL from the binaries inside PyPI's ``pgserver`` wheel.

pgserver's own Python helper is not used: when run as root it creates a
system user and opens every folder above its data directory to others.  We
run ``initdb``/``pg_ctl`` ourselves, as ``nobody`` when the caller is root,
and only ever change ownership of our own ``data/services/postgres`` folder.
If the checkout lives somewhere ``nobody`` cannot reach (a 0700 home, say),
we never loosen permissions outside the project: the cluster then lives in
a private folder under the system temp directory (binaries copied beside it)
and ``data/services/postgres/RUNTIME`` records where.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

import psycopg2

from salespulse.services import process
from salespulse.services.base import EmbeddedService, ServiceError, secret
from salespulse.settings import Settings

log = logging.getLogger(__name__)

DATABASE = "salespulse"
USER = "salespulse"


def pg_bin_dir() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError("PyPI package 'pgserver' is not installed (run `make setup`)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class EmbeddedPostgres(EmbeddedService):
    name = "postgres"

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.log_file = self.server_log

    def reset(self) -> None:
        root = self.runtime_root
        super().reset()
        if root != self.dir and root.exists():
            shutil.rmtree(root)

    @property
    def configured_url(self) -> str | None:
        return self.settings.database_url

    @property
    def password(self) -> str:
        return secret(self.settings, "postgres_password")

    @property
    def local_url(self) -> str:
        return (
            f"postgresql://{USER}:{quote(self.password, safe='')}@127.0.0.1:"
            f"{self.settings.pg_port}/{DATABASE}"
        )

    @property
    def runtime_root(self) -> Path:
        """Where the cluster lives: our folder, or a temp folder if 'nobody' cannot reach it."""
        run_as = process.RunAs.for_postgres()
        if run_as is None or (
            process.reachable_by(self.dir, run_as.uid, run_as.gid)
            and process.reachable_by(pg_bin_dir(), run_as.uid, run_as.gid)
        ):
            return self.dir
        digest = hashlib.sha1(str(self.dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"salespulse-pg-{digest}"

    @property
    def bin_dir(self) -> Path:
        root = self.runtime_root
        return pg_bin_dir() if root == self.dir else root / "pgserver" / "pginstall" / "bin"

    @property
    def executable(self) -> Path:
        return self.bin_dir / "postgres"

    @property
    def data_dir(self) -> Path:
        return self.runtime_root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.runtime_root / "run"

    @property
    def server_log(self) -> Path:
        return self.runtime_root / "postgres.log"

    def _run(self, argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        run_as = process.RunAs.for_postgres()
        extra = run_as.popen_kwargs() if run_as else {}
        return subprocess.run(  # type: ignore[call-overload, no-any-return]
            argv, capture_output=True, text=True, cwd=self.runtime_root, **extra, **kwargs
        )

    def _prepare_ownership(self) -> None:
        """As root: hand our own cluster folder to 'nobody' (nothing outside it is touched)."""
        run_as = process.RunAs.for_postgres()
        if run_as is None:
            return
        root = self.runtime_root
        if root != self.dir:
            log.warning(
                "'nobody' cannot reach %s (a folder above it is private); PostgreSQL runs from %s",
                self.dir,
                root,
            )
            root.mkdir(mode=0o755, exist_ok=True)
            if not self.bin_dir.exists():
                # Keep the wheel's layout: the binaries' RPATH is $ORIGIN/../../../pgserver.libs.
                site = pg_bin_dir().parent.parent.parent
                shutil.copytree(
                    site / "pgserver" / "pginstall", root / "pgserver" / "pginstall", symlinks=True
                )
                shutil.copytree(site / "pgserver.libs", root / "pgserver.libs", symlinks=True)
            (self.dir / "RUNTIME").write_text(f"{root}\n")
        for folder in (self.data_dir, self.socket_dir):
            folder.mkdir(parents=True, exist_ok=True)
        owned = [root / "data", root / "run"]
        self.server_log.touch()
        os.chown(self.server_log, run_as.uid, run_as.gid)
        for top in owned:
            os.chown(top, run_as.uid, run_as.gid)
            for current, dirs, files in os.walk(top):
                for name in [*dirs, *files]:
                    os.chown(os.path.join(current, name), run_as.uid, run_as.gid, follow_symlinks=False)
        if root == self.dir:
            os.chown(self.dir, run_as.uid, run_as.gid)

    def _initdb(self) -> None:
        self._prepare_ownership()
        pwfile = self.runtime_root / "run" / "pwfile"
        pwfile.write_text(self.password + "\n")
        os.chmod(pwfile, 0o600)
        run_as = process.RunAs.for_postgres()
        if run_as:
            os.chown(pwfile, run_as.uid, run_as.gid)
        try:
            out = self._run(
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    USER,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--no-locale",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if out.returncode != 0:
            raise ServiceError(f"initdb failed: {out.stderr.strip()[-800:]}")
        conf = self.data_dir / "postgresql.conf"
        with open(conf, "a") as handle:
            handle.write(
                "\n# SalesPulse embedded settings\n"
                "listen_addresses = '127.0.0.1'\n"
                "max_connections = 200\n"
                "shared_buffers = 512MB\n"
                "work_mem = 64MB\n"
                "maintenance_work_mem = 512MB\n"
                "max_wal_size = 4GB\n"
                "wal_level = logical\n"
                "max_replication_slots = 10\n"
                "max_wal_senders = 10\n"
                "synchronous_commit = off\n"
                "fsync = on\n"
            )
        with open(self.data_dir / "pg_hba.conf", "a") as handle:
            handle.write("host replication all 127.0.0.1/32 scram-sha-256\n")

    def _start(self) -> None:
        if process.port_open("127.0.0.1", self.settings.pg_port):
            raise ServiceError(
                f"port {self.settings.pg_port} is taken by a server this project did not start; "
                "set SALESPULSE_PG_PORT or DATABASE_URL"
            )
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        else:
            self._prepare_ownership()
        out = self._run(
            [
                str(self.bin_dir / "pg_ctl"),
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.server_log),
                "-o",
                f"-p {self.settings.pg_port} -k {self.socket_dir}",
            ]
        )
        if out.returncode != 0:
            raise ServiceError(
                f"pg_ctl start failed: {out.stderr.strip()[-500:]}\n{process.tail(self.server_log)}"
            )
        pid = process.read_pid(self.data_dir / "postmaster.pid")
        if pid is None:
            raise ServiceError("PostgreSQL started but wrote no postmaster.pid")
        process.write_pid(self.pid_file, pid)

    def _ensure_ready(self) -> None:
        admin = self.local_url.rsplit("/", 1)[0] + "/postgres"
        conn = psycopg2.connect(admin, connect_timeout=10)
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{DATABASE}"')
        finally:
            conn.close()

    def _stop(self, pid: int) -> None:
        out = self._run([str(self.bin_dir / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(self.data_dir)])
        if out.returncode != 0 and process.pid_alive(pid):
            process.terminate(pid)

    def probe(self) -> str:
        conn = psycopg2.connect(self.url, connect_timeout=3)
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW server_version")
                row = cur.fetchone()
        finally:
            conn.close()
        return f"PostgreSQL {row[0]}" if row else "PostgreSQL"
