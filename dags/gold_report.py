"""A consumer of the backfill's tables: each day, wait (deferred, in the triggerer, no worker
slot held) until ``fanout_medallion_backfill`` has committed that day's slice to gold, then report
on it. The sensor reads the sinks' Delta logs without a JVM: gold is a view of silver, so it waits
for silver's commit of the day's slice and for gold to hold that silver version.

The two DAGs are independent: this one can start first and simply waits. The wait gives up after
``$FANOUT_REPORT_WAIT_S`` seconds (default 6 hours), naming each table that is behind."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from airflow_fanout.examples.medallion import backfill_dag_spec, example_lake, example_storage_conn_id, sink_path
from airflow_fanout.sensors.delta_txn import DeltaTxnSensor

SPEC = backfill_dag_spec(example_lake())  # the tables fanout_medallion_backfill writes
GOLD = sink_path(SPEC, "gold")

with DAG(
    dag_id="fanout_gold_report",
    schedule="@daily",
    start_date=datetime(2026, 11, 1),
    end_date=datetime(2026, 11, 3),
    catchup=True,
    tags=["airflow-fanout", "example"],
    doc_md=__doc__,
) as dag:
    wait_for_gold = DeltaTxnSensor(
        task_id="wait_for_gold",
        spec=SPEC,
        spec_params={"ds": "{{ ds }}"},
        sinks=["gold"],
        storage_conn_id=example_storage_conn_id(),
        deferrable=True,
        poke_interval=5,
        timeout=float(os.environ.get("FANOUT_REPORT_WAIT_S", 6 * 3600)),
    )

    @task
    def report(ds: str | None = None) -> dict[str, Any]:
        """The day's revenue per event type, from gold (delta-rs, no JVM)."""
        from deltalake import DeltaTable

        rows = DeltaTable(GOLD.replace("s3a://", "s3://")).to_pyarrow_table().to_pylist()
        revenue: dict[str, float] = {}
        for row in rows:
            if row["window_start"].strftime("%Y-%m-%d") == ds:
                revenue[row["event_type"]] = round(revenue.get(row["event_type"], 0.0) + row["revenue"], 2)
        return {"ds": ds, "revenue": dict(sorted(revenue.items()))}

    wait_for_gold >> report()
