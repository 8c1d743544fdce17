"""The streaming example DAG with its lake in a real S3 server, through ``dag.test()``: the
operator gives Spark the ``aws`` connection named by ``$FANOUT_STORAGE_CONN_ID``, the deferrable
sensor reads the logs in S3 with it, the run report is kept beside the checkpoint in S3, and a
second run reads only the new landing file."""

from __future__ import annotations

import json
from pathlib import Path

import obstore
import pytest
from deltalake import DeltaTable

from airflow_fanout.lake_files import read_text
from airflow_fanout.sample_data import Event, generate_events, write_landing_batch
from airflow_fanout.storage import object_path, object_store
from tests.airflow.dag_runner import migrate
from tests.airflow.test_example_dags import airflow_env, run_dag
from tests.expected import silver_rows
from tests.s3.server import ACCESS_KEY, SECRET_KEY, S3Server

pytestmark = pytest.mark.slow


def test_streaming_dag_on_s3(s3_server: S3Server, s3_bucket: str, tmp_path: Path) -> None:
    lake = f"{s3_bucket}/shop"
    conn = {
        "conn_type": "aws",
        "login": ACCESS_KEY,
        "password": SECRET_KEY,
        "extra": {"endpoint_url": s3_server.endpoint},
    }
    env = {
        **airflow_env(tmp_path / "home", tmp_path / "unused"),
        "FANOUT_LAKE": lake,
        "FANOUT_STORAGE_CONN_ID": "lake_s3",
        "AIRFLOW_CONN_LAKE_S3": json.dumps(conn),
    }
    migrate(env)
    events: list[Event] = []
    for run in range(2):
        batch = generate_events(run, 50)
        local = write_landing_batch(tmp_path / "landing", run, batch)
        where = object_path(f"{lake}/landing/{local.name}")
        assert where is not None
        obstore.put(object_store(where, s3_server.storage_options), where.key, local.read_bytes())
        events += batch
        result = run_dag(
            env,
            "streaming_available_now.py",
            "fanout_streaming_available_now",
            f"2026-11-28T00:{run * 5:02d}:00+00:00",
            tmp_path / f"run-{run}.json",
        )
        assert result["tasks"] == {"fan_out": "success", "wait_for_sinks": "success"}, result
        assert result["asset_events"]["shop_events.bronze"]["rows_inserted"] == len(batch)  # the new file only
        report = result["xcom"]["fan_out"]["report"]
        assert report.startswith(f"{lake}/_checkpoints/shop_events/_fanout/reports/airflow/"), report
        assert json.loads(read_text(report, s3_server.storage_options) or "{}")["status"] == "succeeded"
    silver = DeltaTable(f"{lake}/silver/events".replace("s3a://", "s3://"), storage_options=s3_server.storage_options)
    assert sorted(r["event_id"] for r in silver.to_pyarrow_table().to_pylist()) == sorted(silver_rows(events))
