"""Credentials in a spec's options stay out of what Airflow shows and stores: the task log, the
XCom report and the rendered template fields. A real ``dag.test()`` run through spark-submit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.airflow.dag_runner import migrate
from tests.airflow.test_example_dags import RUNNER, airflow_env
from tests.reliability.killloop import land_batch

pytestmark = [pytest.mark.slow, pytest.mark.spark]

SECRET = "pw-airflow-31337"
JAAS = 'PlainLoginModule required username="u" password="jaas-airflow-4242";'

DAG_FILE = """
import pendulum
from airflow.sdk import DAG
from airflow_fanout.operators.fanout import FanOutSubmitOperator

with DAG("secret_options", schedule=None, start_date=pendulum.datetime(2026, 11, 1, tz="UTC")) as dag:
    FanOutSubmitOperator(task_id="write", spec=SPEC, conf={"spark.ui.enabled": "false"})
"""


def test_credentials_are_masked_in_task_log_xcom_and_rendered_fields(tmp_path: Path) -> None:
    land_batch(tmp_path / "landing", 0)
    spec = {
        "version": 1,
        "app_id": "secretive",
        "source": {
            "format": "json",
            "path": str(tmp_path / "landing"),
            "schema": "event_id STRING, amount DOUBLE",
            "options": {"password": SECRET, "kafka.sasl.jaas.config": JAAS},
        },
        "run": {"mode": "stream", "trigger": {"available_now": True}, "checkpoint": str(tmp_path / "cp")},
        "sinks": [
            {"name": "raw", "path": str(tmp_path / "raw"), "mode": "append", "options": {"fs.s3a.secret.key": SECRET}}
        ],
    }
    dags = tmp_path / "dags"
    dags.mkdir()
    dag_file = dags / "secret_options.py"
    dag_file.write_text(f"SPEC = {json.dumps(spec)!r}\nimport json\nSPEC = json.loads(SPEC)\n{DAG_FILE}")
    env = {**airflow_env(tmp_path / "home", tmp_path / "lake"), "AIRFLOW__CORE__DAGS_FOLDER": str(dags)}
    migrate(env)
    out = tmp_path / "out.json"
    done = subprocess.run(
        [sys.executable, RUNNER, str(dag_file), "secret_options", "2026-11-02T00:00:00+00:00", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    result = json.loads(out.read_text())
    assert result["tasks"] == {"write": "success"}
    stored = json.dumps([result["xcom"], result["rendered"]])
    assert result["xcom"]["write"]["status"] == "succeeded"
    assert result["rendered"]["write"]["spec"]["source"]["options"]["password"] == "***"
    for secret in (SECRET, "jaas-airflow-4242"):
        assert secret not in log
        assert secret not in stored
    assert "'password': '***'" in log, "the driver's plan line, through the task log"
