"""docker/ checked as far as a machine without a Docker engine allows: the compose file parses,
every service has an image or an existing build context, every mounted host path and named
volume exists, the Dockerfile's inputs exist. ``docker compose config`` runs where available."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

DOCKER = Path(__file__).resolve().parents[2] / "docker"
COMPOSE = DOCKER / "compose.yaml"


def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return doc


def test_services_build_contexts_mounts_and_volumes_exist() -> None:
    doc = compose()
    services = doc["services"]
    assert {
        "postgres",
        "airflow-api-server",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "spark-master",
        "spark-worker",
    } <= set(services)
    named_volumes = set(doc.get("volumes", {}))
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        if "build" in service:
            context = (DOCKER / service["build"]["context"]).resolve()
            assert context.is_dir(), name
            assert (context / service["build"]["dockerfile"]).is_file(), name
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith((".", "/")):
                assert (DOCKER / source).exists(), f"{name}: {source}"
            else:
                assert source in named_volumes, f"{name}: volume {source} is not declared"
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
    env = services["airflow-scheduler"]["environment"]
    assert "spark-master" in env["AIRFLOW_CONN_SPARK_DEFAULT"]
    assert "spark-master:7077" in " ".join(services["spark-worker"]["entrypoint"])


def test_dockerfile_inputs_exist_and_jars_are_fetched_at_build() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    root = DOCKER.parent
    for line in re.findall(r"^COPY\s+(?:--\S+\s+)*(.+)$", text, flags=re.M):
        for source in line.split()[:-1]:
            assert (root / source).exists(), source
    assert re.search(r"^FROM apache/airflow:\$\{AIRFLOW_VERSION\}", text, flags=re.M)
    assert "openjdk-17" in text
    assert "airflow-fanout fetch-jars" in text
    pinned = re.search(r"^apache-airflow==(\S+)$", (root / "constraints.txt").read_text(), flags=re.M)
    assert pinned is not None
    assert f"ARG AIRFLOW_VERSION={pinned.group(1)}" in text  # the base image matches the pinned Airflow


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0,
    reason="no docker compose CLI on this machine",
)
def test_docker_compose_config() -> None:
    done = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
