"""The medallion example with its whole lake on a real S3 server (SeaweedFS), through real
spark-submit and Hadoop's S3A connector: landing files, bronze/silver/gold, dead letters and the
stream's checkpoint all under ``s3a://``; a second run reads only the new file, a third writes
nothing; ``airflow-fanout status`` reads the logs there without a JVM."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import obstore
import pytest
from deltalake import DeltaTable

from airflow_fanout.driver.object_lock import ObjectRunLock
from airflow_fanout.examples.medallion import medallion_stream_spec
from airflow_fanout.sample_data import Event, generate_events, write_landing_batch
from airflow_fanout.storage import object_path, object_store
from airflow_fanout.txnlog import read_txn_log
from tests.expected import gold_rows, silver_rows, valid
from tests.s3.server import S3Server

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "airflow_fanout.cli"]


def land(server: S3Server, lake: str, batch: int, events: list[Event], tmp: Path) -> None:
    """One landing file, written locally then put into ``<lake>/landing``."""
    local = write_landing_batch(tmp / "landing", batch, events)
    where = object_path(f"{lake}/landing/{local.name}")
    assert where is not None
    obstore.put(object_store(where, server.storage_options), where.key, local.read_bytes())


def table(server: S3Server, url: str) -> list[dict[str, Any]]:
    found = DeltaTable(url.replace("s3a://", "s3://"), storage_options=server.storage_options)
    rows: list[dict[str, Any]] = found.to_pyarrow_table().to_pylist()
    return rows


def run(server: S3Server, spec_path: Path, report: Path, exit_code: int = 0) -> dict[str, Any]:
    confs = [arg for key, value in server.spark_confs.items() for arg in ("--conf", f"{key}={value}")]
    done = subprocess.run(
        [*CLI, "run", str(spec_path), "--master", "local[2]", "--report", str(report), *confs],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == exit_code, done.stderr[-4000:]
    return dict(json.loads(report.read_text()))


def test_medallion_on_s3_exactly_once(s3_server: S3Server, s3_bucket: str, tmp_path: Path) -> None:
    lake = f"{s3_bucket}/shop"
    doc = medallion_stream_spec(lake)
    assert doc["run"]["checkpoint"].startswith("s3a://") and doc["dead_letter"]["path"].startswith("s3a://")
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(doc))
    paths = {s["name"]: s["path"] for s in doc["sinks"]}
    events: list[Event] = []
    for batch in range(2):
        events += generate_events(batch, 60)
        land(s3_server, lake, batch, generate_events(batch, 60), tmp_path)

    first = run(s3_server, spec_path, tmp_path / "first.json")
    assert first["sinks"]["bronze"]["rows_written"] == len(events)

    more = generate_events(2, 60)
    land(s3_server, lake, 2, more, tmp_path)
    events += more
    second = run(s3_server, spec_path, tmp_path / "second.json")
    assert second["sinks"]["bronze"]["rows_written"] == len(more)  # only the new file

    assert len(table(s3_server, paths["bronze"])) == len(events)
    assert sorted(r["event_id"] for r in table(s3_server, paths["silver"])) == sorted(silver_rows(events))
    gold = {
        (int(r["window_start"].timestamp()), r["event_type"]): (r["events"], round(r["revenue"], 6))
        for r in table(s3_server, paths["gold"])
    }
    assert gold == gold_rows(events)
    letters = table(s3_server, doc["dead_letter"]["path"])
    assert len(letters) == len(events) - len(valid(events)) and {r["_sink"] for r in letters} == {"silver"}
    options = s3_server.storage_options
    logs = {name: read_txn_log(url, options) for name, url in paths.items()}
    assert {n: log.txn_version(f"shop_events.{n}") for n, log in logs.items() if log} == {
        "bronze": 2,
        "silver": 2,
        "gold": logs["silver"].version if logs["silver"] else None,
    }

    # Nothing new: nothing written, whatever the checkpoint in S3 says
    versions = {n: log.version for n, log in logs.items() if log}
    idle = run(s3_server, spec_path, tmp_path / "idle.json")
    assert idle["batches"] == []
    assert {n: read_txn_log(u, options).version for n, u in paths.items()} == versions  # type: ignore[union-attr]

    # The run lock is a lease in the checkpoint's bucket: released after each run; while another
    # live run holds it, a run stops at once with exit 3 (the driver reads the lease with the
    # credentials Spark was given)
    lock_url = f"{doc['run']['checkpoint']}/_fanout/locks/stream.lock"
    other = ObjectRunLock(object_path(lock_url), "app shop_events", s3_server.storage_options)  # type: ignore[arg-type]
    other.acquire()
    try:
        refused = run(s3_server, spec_path, tmp_path / "refused.json", exit_code=3)
    finally:
        other.release()
    assert refused["batches"] == [] and "another run of app shop_events is in progress" in refused["error"]
    assert read_txn_log(paths["bronze"], options).version == versions["bronze"]  # type: ignore[union-attr]

    # `status` finds the tables with the credentials in the environment, no JVM
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": options["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": options["aws_secret_access_key"],
        "AWS_ENDPOINT_URL": s3_server.endpoint,
        "AWS_REGION": options["aws_region"],
        "AWS_ALLOW_HTTP": "true",
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
    }
    status = subprocess.run([*CLI, "status", str(spec_path)], capture_output=True, text=True, env=env, timeout=120)
    assert status.returncode == 0, status.stderr
    silver = next(line for line in status.stdout.splitlines() if line.startswith("silver "))
    assert silver.split()[1:5] == [paths["silver"], str(versions["silver"]), "shop_events.silver", "2"]
