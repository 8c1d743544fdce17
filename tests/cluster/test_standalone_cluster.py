"""The medallion spec submitted through the Airflow operator to a real Spark standalone cluster
writes the same tables as on local Spark."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_fanout.examples.medallion import medallion_stream_spec
from airflow_fanout.sample_data import generate_events, write_landing_batch
from tests.airflow.dag_runner import migrate
from tests.driver.helpers import rows

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
RUNNER = str(ROOT / "tests" / "airflow" / "dag_runner.py")

DAG = """
import json
from datetime import datetime
from airflow.sdk import DAG
from airflow_fanout.operators.fanout import FanOutAvailableNowOperator

# one core; tiny data: a few partitions per shuffle and per Delta snapshot (defaults: 200 and 50)
CONF = {{
    "spark.cores.max": "1",
    "spark.sql.shuffle.partitions": "2",
    "spark.databricks.delta.snapshotPartitions": "2",
}}

with DAG("fanout_on_cluster", schedule=None, start_date=datetime(2026, 11, 1), catchup=False) as dag:
    FanOutAvailableNowOperator(task_id="fan_out", spec=json.loads({spec!r}), conf=CONF)
"""


def table_contents(lake: Path) -> dict[str, list[tuple[str, ...]]]:
    out = {}
    for name, sub in (("bronze", "bronze/events"), ("silver", "silver/events"), ("gold", "gold/revenue_5min")):
        data = rows(str(lake / sub))
        keep = [k for k in sorted(data[0]) if not k.startswith("_ingested")] if data else []
        out[name] = sorted(tuple(str(r[k]) for k in keep) for r in data)
    return out


def test_operator_on_standalone_cluster_matches_local(spark_cluster: str, tmp_path: Path) -> None:
    for b in range(2):
        write_landing_batch(tmp_path / "landing", b, generate_events(b, 60))
    on_cluster, local = medallion_stream_spec(tmp_path / "cluster"), medallion_stream_spec(tmp_path / "local")
    for doc in (on_cluster, local):
        doc["source"]["path"] = str(tmp_path / "landing")

    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    (home / "dags" / "cluster_dag.py").write_text(DAG.format(spec=json.dumps(on_cluster)))
    host, port = spark_cluster.rsplit(":", 1)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "PYTHONPATH": str(ROOT),
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": host, "port": int(port)}),
    }
    migrate(env)
    out = tmp_path / "result.json"
    done = subprocess.run(
        [
            sys.executable,
            RUNNER,
            str(home / "dags" / "cluster_dag.py"),
            "fanout_on_cluster",
            "2026-11-27T00:00:00+00:00",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    result = json.loads(out.read_text())
    assert result["tasks"] == {"fan_out": "success"}
    # it really went to the cluster: a standalone master names its applications app-..., not local-...
    assert result["xcom"]["fan_out"]["spark_app_id"].startswith("app-"), result["xcom"]

    spec_path = tmp_path / "local.json"
    spec_path.write_text(json.dumps(local))
    ran = subprocess.run(
        [sys.executable, "-m", "airflow_fanout.cli", "run", str(spec_path), "--master", "local[2]"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    cluster_tables = table_contents(tmp_path / "cluster")
    assert cluster_tables == table_contents(tmp_path / "local")
    assert all(cluster_tables.values())
