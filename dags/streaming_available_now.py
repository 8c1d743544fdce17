"""Scheduled ``availableNow`` stream: every few minutes the driver processes the landing files
that arrived since the last run (the checkpoint remembers), writes bronze, silver and gold, and
stops; the sensor then waits until every sink has reached the batch ids the run reported.

A run with no new files writes nothing and succeeds quickly. The lake lives in ``$FANOUT_LAKE``
(default ``/tmp/airflow-fanout/lake``; an ``s3a://`` URL with ``$FANOUT_STORAGE_CONN_ID`` naming
an ``aws`` connection works too)."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_fanout.examples.medallion import example_lake, example_storage_conn_id, medallion_stream_spec
from airflow_fanout.operators.fanout import FanOutAvailableNowOperator
from airflow_fanout.sensors.delta_txn import DeltaTxnSensor

SPEC = medallion_stream_spec(example_lake())

with DAG(
    dag_id="fanout_streaming_available_now",
    schedule=timedelta(minutes=5),
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,  # one stream per checkpoint
    tags=["airflow-fanout", "example"],
    doc_md=__doc__,
) as dag:
    fan_out = FanOutAvailableNowOperator(task_id="fan_out", spec=SPEC, storage_conn_id=example_storage_conn_id())
    wait_for_sinks = DeltaTxnSensor(
        task_id="wait_for_sinks",
        spec=SPEC,
        report_task_id="fan_out",
        storage_conn_id=example_storage_conn_id(),
        deferrable=True,
        poke_interval=5,
        timeout=600,
    )
    fan_out >> wait_for_sinks
