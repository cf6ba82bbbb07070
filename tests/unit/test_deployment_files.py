"""The compose file is valid against the Compose specification and fully pinned."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_passes_the_compose_specification() -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    out = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(ROOT / "docker-compose.yml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ok -- validation done" in out.stdout


def test_every_image_is_pinned_and_every_port_is_local() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {
        "kafka",
        "postgres",
        "redis",
        "spark-master",
        "spark-worker",
        "airflow",
        "web",
        "relay",
        "consumer",
        "producer",
    }
    for name, service in services.items():
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", image), f"{name}: image {image!r} has no tag"
        assert not image.endswith(":latest"), f"{name}: image {image!r} is not pinned"
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name}: port {port} is not bound to 127.0.0.1"
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert set(compose["volumes"]) == {"kafka-data", "postgres-data", "redis-data", "lake"}
    for dependant in ("web", "consumer"):
        depends = services[dependant]["depends_on"]
        assert {d: v["condition"] for d, v in depends.items()} == {
            "postgres": "service_healthy",
            "redis": "service_healthy",
            "kafka": "service_healthy",
        }


def test_airflow_image_matches_the_locked_airflow() -> None:
    lock = (ROOT / "requirements.txt").read_text()
    version = re.search(r"^apache-airflow==(\S+)$", lock, re.M).group(1)
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"ARG AIRFLOW_IMAGE=apache/airflow:{version}-python3.11" in dockerfile
    for target in ("base", "builder", "runtime", "web", "stream", "spark", "airflow"):
        assert re.search(rf"^FROM .+ AS {target}$", dockerfile, re.M), target
    assert "USER salespulse" in dockerfile
