"""The driver runs under spark-submit with Airflow not importable at all: a ``sitecustomize``
on the driver's PYTHONPATH makes every ``import airflow`` fail, as on a cluster without Airflow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_fanout.submit import submit_command, submit_env
from tests.driver.helpers import rows, txn

ROOT = Path(__file__).resolve().parents[2]
BLOCKER = """
import sys

class _NoAirflow:
    def find_spec(self, name, path=None, target=None):
        if name == "airflow" or name.startswith("airflow."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: the driver must not need Airflow)")
        return None

sys.meta_path.insert(0, _NoAirflow())
"""
DRIVER_MODULES = sorted(p.stem for p in (ROOT / "airflow_fanout" / "driver").glob("*.py") if p.stem != "__init__")


def blocked_env(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER)
    return {**submit_env(), "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}


def test_every_driver_module_imports_without_airflow(tmp_path: Path) -> None:
    env = blocked_env(tmp_path)
    blocked = subprocess.run([sys.executable, "-c", "import airflow"], env=env, capture_output=True, text=True)
    assert "blocked: the driver must not need Airflow" in blocked.stderr  # the blocker works
    code = "\n".join(f"import airflow_fanout.driver.{m}" for m in DRIVER_MODULES)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(DRIVER_MODULES) >= 10


@pytest.mark.slow
def test_spark_submit_runs_the_driver_without_airflow(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "part.json").write_text(
        "".join(json.dumps({"id": i, "kind": "a" if i % 2 else "b"}) + "\n" for i in range(10))
    )
    spec = {
        "version": 1,
        "app_id": "plain",
        "source": {"format": "json", "path": str(data), "schema": "id BIGINT, kind STRING"},
        "run": {"mode": "stream", "checkpoint": str(tmp_path / "cp")},
        "sinks": [
            {"name": "all_rows", "path": str(tmp_path / "all"), "mode": "append"},
            {
                "name": "by_id",
                "path": str(tmp_path / "by_id"),
                "mode": "merge",
                "where": "kind = 'a'",
                "merge": {"keys": ["id"]},
            },
        ],
    }
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    done = subprocess.run(
        submit_command(str(spec_path), master="local[1]"),
        env=blocked_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert done.stdout.strip().splitlines()[-1].endswith(".json")
    assert sorted(r["id"] for r in rows(str(tmp_path / "all"))) == list(range(10))
    assert sorted(r["id"] for r in rows(str(tmp_path / "by_id"))) == [1, 3, 5, 7, 9]
    assert txn(str(tmp_path / "by_id"), "plain.by_id") == 0
