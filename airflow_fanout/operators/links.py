"""What a fan-out task links to and where it keeps its reports."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from airflow.sdk import conf
from airflow.sdk.bases.operatorlink import BaseOperatorLink
from airflow.sdk.bases.xcom import BaseXCom as XCom

from airflow_fanout.spec.model import FanOutSpec

#: XCom key of ``{"app_id", "ui", "history"}``, pushed as soon as the driver starts Spark
SPARK_APP_XCOM = "spark_app"


class SparkUILink(BaseOperatorLink):
    """The run's Spark application: its history server page when one is known, else its live UI
    (which answers while the driver runs)."""

    name = "Spark UI"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        app = XCom.get_value(ti_key=ti_key, key=SPARK_APP_XCOM)
        if not isinstance(app, dict):
            return ""
        return str(app.get("history") or app.get("ui") or "")


class FanOutTablesLink(BaseOperatorLink):
    """The task on the Fan-out page: its graph, each sink table's location, version and txn
    version, and what the last run wrote."""

    name = "Fan-out tables"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        base = conf.get("api", "base_url", fallback="").rstrip("/")
        query = urlencode({"dag_id": ti_key.dag_id, "task_id": ti_key.task_id})
        return f"{base}/fanout/?{query}"


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]", "_", part)


def task_report_dir(spec: FanOutSpec, ti: Any) -> str | None:
    """Where a task run keeps its reports across attempts: under the checkpoint (a local folder
    or an object-store prefix), ``_fanout/reports/airflow/<dag>/<run>/<task>[-<map index>]``;
    None without a task instance (then the report lives for the run only)."""
    checkpoint = spec.run.checkpoint
    if ti is None:
        return None
    task = _safe(ti.task_id) + (f"-{ti.map_index}" if getattr(ti, "map_index", -1) not in (-1, None) else "")
    parts = ["_fanout", "reports", "airflow", _safe(ti.dag_id), _safe(ti.run_id), task]
    if "://" in checkpoint and not checkpoint.startswith("file:"):
        return "/".join([checkpoint.rstrip("/"), *parts])
    return str(Path(checkpoint.removeprefix("file://").removeprefix("file:")).joinpath(*parts))
