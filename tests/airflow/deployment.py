"""A real Airflow deployment for the tests: ``airflow scheduler`` (LocalExecutor), ``dag-processor``,
``triggerer`` and ``api-server``, each its own process on free loopback ports, sharing one
AIRFLOW_HOME with a SQLite metadata DB; and a small client for Airflow's REST API (v2).

Every process is started in its own session so that stopping the deployment can take down what
it started too (LocalExecutor workers, their ``spark-submit`` and its JVM); ``stop`` checks that
nothing is left."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil

from tests.airflow.ui_browser import free_port, wait_healthy

T = TypeVar("T")
COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server")


@dataclass
class AirflowApi:
    """Airflow's REST API as an admin (the simple auth manager in all-admins mode adds the token)."""

    base: str

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base}/api/v2{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{method} {path}: {error.code} {error.read()[:2000]!r}") from error

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def unpause(self, dag_id: str) -> None:
        self.call("PATCH", f"/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, logical_date: str) -> str:
        return str(self.call("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": logical_date})["dag_run_id"])

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/dags/{dag_id}/dagRuns?order_by=logical_date&limit=100")["dag_runs"])

    def task_states(self, dag_id: str) -> dict[tuple[str, str], str]:
        """(run id, task id) -> state, over every run of the DAG."""
        found = self.get(f"/dags/{dag_id}/dagRuns/~/taskInstances?limit=1000")["task_instances"]
        return {(ti["dag_run_id"], ti["task_id"]): str(ti["state"]) for ti in found}

    def asset_events(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/assets/events?source_dag_id={dag_id}&limit=100")["asset_events"])

    def run_asset_extras(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The ``extra`` of each Asset event one run emitted."""
        return [e["extra"] for e in self.asset_events(dag_id) if e["source_run_id"] == run_id]


@dataclass
class Deployment:
    api: AirflowApi
    home: Path
    logs: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log(self, component: str) -> str:
        return (self.logs / f"{component}.log").read_text(errors="replace")

    def tail(self) -> str:
        return "\n".join(f"--- {c} ---\n{self.log(c)[-1500:]}" for c in COMPONENTS)

    def wait(self, what: str, probe: Callable[[], T | None], timeout: float = 600) -> T:
        """Poll ``probe`` until it returns something (not None); fail naming ``what``."""
        deadline = time.monotonic() + timeout
        while True:
            found = probe()
            if found is not None:
                return found
            dead = [c for c, p in self.procs.items() if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise AssertionError(f"{what}: {'stopped: ' + str(dead) if dead else 'timed out'}\n{self.tail()}")
            time.sleep(2)

    def wait_runs(self, dag_id: str, count: int, timeout: float = 900) -> list[dict[str, Any]]:
        """The DAG's runs once ``count`` of them have ended; each must have succeeded."""

        def ended() -> list[dict[str, Any]] | None:
            runs = self.api.runs(dag_id)
            done = [r for r in runs if r["state"] in ("success", "failed")]
            return runs if len(done) >= count else None

        runs = self.wait(f"{count} run(s) of {dag_id}", ended, timeout)
        failed = [r["dag_run_id"] for r in runs if r["state"] != "success"]
        assert not failed, f"{dag_id}: failed runs {failed}: {self.api.task_states(dag_id)}\n{self.tail()}"
        return runs


def deployment_env(env: dict[str, str], api_port: int) -> dict[str, str]:
    return {
        **env,
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
        # the workers' and the triggerer's log servers: free ports, not the fixed defaults
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
    }


@contextmanager
def airflow_deployment(env: dict[str, str], logs: Path) -> Iterator[Deployment]:
    """The four Airflow components until the block ends (the metadata DB must be migrated)."""
    logs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = deployment_env(env, port)
    airflow = str(Path(sys.executable).with_name("airflow"))
    deployment = Deployment(AirflowApi(f"http://127.0.0.1:{port}"), Path(env["AIRFLOW_HOME"]), logs)
    try:
        for component in COMPONENTS:
            where = ["--port", str(port), "--host", "127.0.0.1"] if component == "api-server" else []
            with open(logs / f"{component}.log", "wb") as out:
                deployment.procs[component] = subprocess.Popen(
                    [airflow, component, *where], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
        wait_healthy(deployment.api.base, deployment.procs["api-server"], logs / "api-server.log")
        yield deployment
    finally:
        stop(deployment.procs)


def stop(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM each component's process group (then SIGKILL); assert that none of what they
    started is still alive."""
    started: list[psutil.Process] = []
    for proc in procs.values():
        with suppress(psutil.NoSuchProcess):
            started += [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    for proc in procs.values():
        with _gone():
            os.killpg(proc.pid, signal.SIGTERM)
    _, alive = psutil.wait_procs(started, timeout=60)
    for proc in alive:
        with _gone():
            proc.kill()
    _, alive = psutil.wait_procs(alive, timeout=10)
    assert not alive, f"still running after the deployment stopped: {alive}"


@contextmanager
def _gone() -> Iterator[None]:
    with suppress(ProcessLookupError, psutil.NoSuchProcess):
        yield
