"""The operators in real Airflow: ``dag.test()`` with SQLite under a temp AIRFLOW_HOME, the driver
through the provider's SparkSubmitHook on local Spark. Checks the tables the tasks wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_fanout.examples.medallion import medallion_backfill_spec, medallion_stream_spec
from airflow_fanout.sample_data import generate_events, write_landing_batch
from tests.airflow.dag_runner import migrate
from tests.driver.helpers import rows, txn
from tests.expected import silver_rows

pytestmark = pytest.mark.slow
RUNNER = str(Path(__file__).with_name("dag_runner.py"))

DAG_TEMPLATE = """
import json
from datetime import datetime
from airflow.sdk import DAG
from airflow_fanout.operators.fanout import FanOutAvailableNowOperator, FanOutBackfillOperator
from airflow_fanout.sensors.delta_txn import DeltaTxnSensor

STREAM = json.loads({stream!r})
BACKFILL = json.loads({backfill!r})

with DAG("fanout_stream", schedule=None, start_date=datetime(2026, 11, 1), catchup=False) as stream_dag:
    run = FanOutAvailableNowOperator(task_id="fan_out", spec=STREAM)
    run >> DeltaTxnSensor(task_id="wait", spec=STREAM, report_task_id="fan_out", deferrable=True,
                          poke_interval=1, timeout=300)

with DAG("fanout_backfill", schedule="@daily", start_date=datetime(2026, 11, 1), catchup=False) as backfill_dag:
    day = FanOutBackfillOperator(task_id="write_day", spec=BACKFILL)
    day >> DeltaTxnSensor(task_id="confirm", spec=BACKFILL, spec_params={{"ds": "{{{{ ds }}}}"}},
                          poke_interval=1, timeout=300)
"""


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("airflow_home")
    (home / "dags").mkdir()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": "local[2]"}),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    migrate(env)
    return env


def run_dag(env: dict[str, str], dag_file: Path, dag_id: str, logical_date: str) -> dict[str, Any]:
    out = dag_file.with_name(f"result-{dag_id}-{logical_date[:10]}.json")
    done = subprocess.run(
        [sys.executable, RUNNER, str(dag_file), dag_id, logical_date, str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def test_available_now_and_backfill_operators_write_the_tables(airflow_env: dict[str, str], tmp_path: Path) -> None:
    events = []
    for b in range(2):
        batch = generate_events(b, 60)
        write_landing_batch(tmp_path / "landing", b, batch)
        events += batch
    stream = medallion_stream_spec(tmp_path / "stream")
    stream["source"]["path"] = str(tmp_path / "landing")
    backfill = medallion_backfill_spec(tmp_path / "backfill")
    backfill["source"]["path"] = str(tmp_path / "landing")
    dag_file = Path(airflow_env["AIRFLOW__CORE__DAGS_FOLDER"]) / "fanout_dags.py"
    dag_file.write_text(DAG_TEMPLATE.format(stream=json.dumps(stream), backfill=json.dumps(backfill)))

    result = run_dag(airflow_env, dag_file, "fanout_stream", "2026-11-27T00:00:00+00:00")
    assert result["tasks"] == {"fan_out": "success", "wait": "success"}, result
    silver = stream["sinks"][1]["path"]
    assert len(rows(stream["sinks"][0]["path"])) == len(events)
    assert sorted(r["event_id"] for r in rows(silver)) == sorted(silver_rows(events))
    assert txn(silver, "shop_events.silver") == 1

    result = run_dag(airflow_env, dag_file, "fanout_backfill", "2026-11-01T00:00:00+00:00")
    assert result["tasks"] == {"write_day": "success", "confirm": "success"}, result
    bronze = backfill["sinks"][0]["path"]
    on_day = [e for e in events if e.event_time.strftime("%Y-%m-%d") == "2026-11-01"]
    assert len(rows(bronze)) == len(on_day)
    assert txn(bronze, "shop_backfill.bronze.2026-11-01") == 0


def test_flavours_reject_the_wrong_spec_at_parse_time(tmp_path: Path) -> None:
    from airflow_fanout.operators.fanout import FanOutAvailableNowOperator, FanOutBackfillOperator

    with pytest.raises(ValueError, match=r"run\.mode 'stream' with trigger"):
        FanOutAvailableNowOperator(task_id="t", spec=medallion_backfill_spec(tmp_path))
    with pytest.raises(ValueError, match=r"needs a spec with run\.mode 'batch'"):
        FanOutBackfillOperator(task_id="t", spec=medallion_stream_spec(tmp_path))
    op = FanOutAvailableNowOperator(task_id="t", spec=medallion_stream_spec(tmp_path))
    assert [a.uri for a in op.outlets] == [f"file://{s['path']}" for s in medallion_stream_spec(tmp_path)["sinks"]]
