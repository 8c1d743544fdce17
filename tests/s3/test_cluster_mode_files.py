"""A driver in cluster deploy mode with its checkpoint in S3: the hook stores the spec beside the
checkpoint, the driver reads it and writes its report there through Hadoop, the hook reads the
report back JVM-free and removes the spec.

No YARN or Kubernetes cluster runs here (and a standalone master refuses Python apps in cluster
mode), so the one thing simulated is *where the driver process runs*: the provider's own
``SparkSubmitHook`` builds its command as usual, and the test runs that exact command with
``--deploy-mode cluster`` dropped (the driver then starts here instead of on a cluster node;
nothing else in the command changes, and the driver has no local spec or report path to use)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_fanout.examples.medallion import medallion_stream_spec
from airflow_fanout.hooks.fanout import FanOutHook
from airflow_fanout.lake_files import read_text
from airflow_fanout.sample_data import generate_events, write_landing_batch
from tests.s3.server import ACCESS_KEY, SECRET_KEY, S3Server

pytestmark = pytest.mark.slow


def test_cluster_mode_spec_and_report_live_beside_the_checkpoint(
    s3_server: S3Server, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    conn = {
        "conn_type": "aws",
        "login": ACCESS_KEY,
        "password": SECRET_KEY,
        "extra": {"endpoint_url": s3_server.endpoint},
    }
    monkeypatch.setenv("AIRFLOW_CONN_LAKE_S3", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", json.dumps({"conn_type": "spark", "host": "local[1]"}))
    write_landing_batch(tmp_path / "landing", 0, events := generate_events(0, 40))
    doc = medallion_stream_spec(f"{s3_bucket}/shop")
    doc["source"]["path"] = str(tmp_path / "landing")
    seen: dict[str, Any] = {}

    def submit_as_on_a_cluster(hook: SparkSubmitHook, application: str = "", **kwargs: Any) -> None:
        command = hook._build_spark_submit_command(application)
        at = command.index("--deploy-mode")
        assert command[at + 1] == "cluster"
        command = command[:at] + command[at + 2 :]
        args = command[command.index(application) + 1 :]
        seen["spec"], seen["report"] = args[args.index("--spec") + 1], args[args.index("--report") + 1]
        seen["spec_text"] = read_text(seen["spec"], s3_server.storage_options)
        env = kwargs["env"]  # what the hook gives spark-submit in cluster mode
        assert "PYSPARK_PYTHON" not in env and env["SPARK_HOME"]  # this host's Python stays here
        # ... and the cluster's own Python runs the driver: here, this interpreter
        env = {**env, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    def recorded(hook: SparkSubmitHook, application: str = "", **kwargs: Any) -> None:
        try:
            submit_as_on_a_cluster(hook, application, **kwargs)
        except BaseException as exc:  # the hook turns any failure into "spark-submit failed"
            seen["error"] = exc
            raise

    monkeypatch.setattr(SparkSubmitHook, "submit", recorded)
    hook = FanOutHook(storage_conn_id="lake_s3", submit_options={"deploy_mode": "cluster"})
    try:
        report = hook.run(doc)
    except Exception as exc:
        raise AssertionError(f"the run failed: {seen.get('error')!r}") from exc

    checkpoint = doc["run"]["checkpoint"]
    assert seen["spec"].startswith(f"{checkpoint}/_fanout/specs/") and seen["spec"].endswith(".json")
    assert json.loads(seen["spec_text"])["app_id"] == "shop_events"  # it was there for the driver
    assert read_text(seen["spec"], s3_server.storage_options) is None  # and is gone after the run
    assert seen["report"].startswith(f"{checkpoint}/_fanout/reports/runs/")
    assert report["status"] == "succeeded" and report["sinks"]["bronze"]["rows_written"] == len(events)
    assert hook.report_path is not None and hook.report_path.endswith("/run.json")
    kept = json.loads(read_text(hook.report_path, s3_server.storage_options) or "{}")
    assert kept["sinks"]["bronze"]["rows_written"] == len(events)
