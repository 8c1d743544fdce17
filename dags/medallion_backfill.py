"""Daily medallion backfill: each logical date's slice of the landing events is written to
bronze and silver, and gold (a view of silver) catches up; a last task reads gold for the day.
``gold_report.py`` is a separate DAG that waits for these tables with the deferrable sensor.

Rerunning a date replaces that day's rows (a new slice run version), never duplicates them;
dates may run out of order or in parallel (the txn app ids include the date; two dates' runs
take turns on gold, whose version is silver's). With the lake in S3 the dates run one at a time:
Delta's default S3 log store is safe for one writer per table only, and two dates' runs write
the same tables (docs/guarantees.md).

The lake lives in ``$FANOUT_LAKE`` (default ``/tmp/airflow-fanout/lake``; ``s3a://bucket/prefix``
works too, with ``$FANOUT_STORAGE_CONN_ID`` naming an ``aws`` connection): landing files are read
from ``$FANOUT_LAKE/landing`` (``python -m airflow_fanout.examples.demo`` makes some), tables are
written under ``$FANOUT_LAKE/backfill``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from airflow_fanout.examples.medallion import backfill_dag_spec, example_lake, example_storage_conn_id, sink_path
from airflow_fanout.operators.fanout import FanOutBackfillOperator

SPEC = backfill_dag_spec(example_lake())
ON_S3 = example_lake().startswith(("s3a://", "s3://"))
GOLD = sink_path(SPEC, "gold")

with DAG(
    dag_id="fanout_medallion_backfill",
    schedule="@daily",
    start_date=datetime(2026, 11, 1),
    end_date=datetime(2026, 11, 3),
    catchup=True,
    max_active_runs=1 if ON_S3 else 2,  # S3: one writer per table (see above)
    tags=["airflow-fanout", "example"],
    doc_md=__doc__,
) as dag:
    write_day = FanOutBackfillOperator(  # slice key = {{ ds }}
        task_id="write_day", spec=SPEC, storage_conn_id=example_storage_conn_id()
    )

    @task
    def read_gold(ds: str | None = None) -> dict[str, Any]:
        """Gold's 5-minute windows of the day, read with delta-rs (no JVM)."""
        from deltalake import DeltaTable

        rows = DeltaTable(GOLD.replace("s3a://", "s3://")).to_pyarrow_table().to_pylist()
        day = [r for r in rows if r["window_start"].strftime("%Y-%m-%d") == ds]
        return {
            "ds": ds,
            "windows": len(day),
            "events": sum(r["events"] for r in day),
            "revenue": round(sum(r["revenue"] for r in day), 2),
        }

    write_day >> read_gold()
