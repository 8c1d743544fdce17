"""The medallion spec submitted through the Airflow operator to a real Spark standalone cluster
(client deploy mode), its lake in a real S3 server reached with an Airflow ``aws`` connection,
writes the same tables as on local Spark with a local lake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable

from airflow_fanout.examples.medallion import medallion_stream_spec
from airflow_fanout.lake_files import read_text
from airflow_fanout.sample_data import generate_events, write_landing_batch
from tests.airflow.dag_runner import migrate
from tests.s3.server import ACCESS_KEY, SECRET_KEY, S3Server

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
    FanOutAvailableNowOperator(task_id="fan_out", spec=json.loads({spec!r}), conf=CONF, storage_conn_id="lake_s3")
"""


def table_contents(lake: str, storage_options: dict[str, str] | None = None) -> dict[str, list[tuple[str, ...]]]:
    out = {}
    for name, sub in (("bronze", "bronze/events"), ("silver", "silver/events"), ("gold", "gold/revenue_5min")):
        path = f"{lake}/{sub}".replace("s3a://", "s3://")
        data = DeltaTable(path, storage_options=storage_options).to_pyarrow_table().to_pylist()
        keep = [k for k in sorted(data[0]) if not k.startswith("_ingested")] if data else []
        out[name] = sorted(tuple(str(r[k]) for k in keep) for r in data)
    return out


def test_operator_on_standalone_cluster_matches_local(
    spark_cluster: str, s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    for b in range(2):
        write_landing_batch(tmp_path / "landing", b, generate_events(b, 60))
    on_cluster, local = medallion_stream_spec(f"{s3_bucket}/cluster"), medallion_stream_spec(tmp_path / "local")
    for doc in (on_cluster, local):
        doc["source"]["path"] = str(tmp_path / "landing")
    conn = {
        "conn_type": "aws",
        "login": ACCESS_KEY,
        "password": SECRET_KEY,
        "extra": {"endpoint_url": s3_server.endpoint, "region_name": "us-east-1"},
    }

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
        "AIRFLOW_CONN_LAKE_S3": json.dumps(conn),
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
    # the report was written beside the checkpoint in S3 (through Hadoop) and read back from there
    report = result["xcom"]["fan_out"]["report"]
    assert report.startswith(f"{s3_bucket}/cluster/_checkpoints/") and report.endswith("/run.json"), report
    assert json.loads(read_text(report, s3_server.storage_options) or "{}")["status"] == "succeeded"

    spec_path = tmp_path / "local.json"
    spec_path.write_text(json.dumps(local))
    ran = subprocess.run(
        [sys.executable, "-m", "airflow_fanout.cli", "run", str(spec_path), "--master", "local[2]"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    cluster_tables = table_contents(f"{s3_bucket}/cluster", s3_server.storage_options)
    assert cluster_tables == table_contents(str(tmp_path / "local"))
    assert all(cluster_tables.values())
