"""Airflow cluster policy of the S3 variant (``compose.s3.yaml`` mounts this file as
``$AIRFLOW_HOME/config/airflow_local_settings.py``): one writer per Delta table on S3.

Delta's default log store on S3 is safe only while one Spark driver commits to a table at a time.
The driver's run lock keeps two runs of one stream, or of one slice, apart; but two *slices* of
a backfill are independent runs that write the same tables, and ``fanout_medallion_backfill``
lets two dates run at once (``max_active_runs=2``). This policy runs every fan-out task whose
spec touches S3 one instance at a time across its DAG's runs (``max_active_tis_per_dag=1``): the
dates still run in any order, one after the other. Applied where DAGs are parsed, so no DAG
changes. Not needed with a DynamoDB log store (``S3DynamoDBLogStore``), nor on ADLS or GCS."""

from __future__ import annotations

import json
from typing import Any


def task_policy(task: Any) -> None:
    from airflow_fanout.operators.fanout import FanOutSubmitOperator

    if isinstance(task, FanOutSubmitOperator) and writes_s3(task.spec):
        task.max_active_tis_per_dag = 1


def writes_s3(spec: Any) -> bool:
    """Whether a fan-out operator's ``spec`` (a mapping or its JSON) touches S3; True when it
    cannot tell (a templated spec), which only costs parallelism."""
    from airflow_fanout.spec.model import FanOutSpec

    try:
        doc = json.loads(spec) if isinstance(spec, str) else dict(spec)
        return bool(FanOutSpec.from_dict(doc).uses_s3)
    except Exception:
        return True
