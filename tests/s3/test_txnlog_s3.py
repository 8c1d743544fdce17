"""The JVM-free txn reader on a real S3 server: the same answers as on local disk and as
delta-rs, a checkpoint and a stale ``_last_checkpoint``, no table / not a table, the first
commit of a txn, and the sensor's check with credentials from an Airflow connection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import obstore
import pyarrow as pa
import pytest
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from airflow_fanout.status import confirmed, lagging
from airflow_fanout.storage import object_path, object_store
from airflow_fanout.txnlog import NotADeltaTableError, first_commit_at_least, read_txn_log
from tests.s3.server import S3Server

APPS = ("a.bronze", "a.silver", "b.gold")


def local_table(root: Path, commits: int, checkpoint_at: int | None = None) -> Path:
    """A table written by delta-rs, a txn id per commit, a checkpoint after ``checkpoint_at``."""
    path = root / "t"
    for i in range(commits):
        props = CommitProperties(app_transactions=[Transaction(APPS[i % len(APPS)], i)])
        write_deltalake(str(path), pa.table({"x": [i]}), mode="append", commit_properties=props)
        if checkpoint_at is not None and i == checkpoint_at:
            DeltaTable(str(path)).create_checkpoint()
    return path


def upload(server: S3Server, folder: Path, url: str) -> None:
    """Copy a local folder to ``url`` (``s3a://bucket/key``), files in name order."""
    where = object_path(url)
    assert where is not None
    store = object_store(where, server.storage_options)
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        obstore.put(store, f"{where.key}/{file.relative_to(folder)}", file.read_bytes())


def test_same_answers_as_on_local_disk_and_as_delta_rs(s3_server: S3Server, s3_bucket: str, tmp_path: Path) -> None:
    local = local_table(tmp_path, 14, checkpoint_at=9)
    assert (local / "_delta_log" / "00000000000000000009.checkpoint.parquet").exists()
    url = f"{s3_bucket}/silver/events"
    upload(s3_server, local, url)
    options = s3_server.storage_options
    on_s3, on_disk = read_txn_log(url, options), read_txn_log(str(local))
    assert on_s3 is not None and on_disk is not None
    assert (on_s3.version, on_s3.txn_versions, on_s3.last_commit) == (13, on_disk.txn_versions, on_disk.last_commit)
    reference = DeltaTable(url.replace("s3a://", "s3://"), storage_options=options)
    for app in (*APPS, "never.written"):
        assert on_s3.txn_version(app) == reference.transaction_version(app), app
    assert first_commit_at_least(url, "a.silver", 7, options) == 7
    assert first_commit_at_least(url, "a.silver", 14, options) is None

    # _last_checkpoint is only a hint: stale, or naming a missing checkpoint, changes nothing
    where = object_path(url)
    assert where is not None
    store = object_store(where, options)
    for hint in ({"version": 3, "size": 1}, {"version": 30, "size": 1}):
        obstore.put(store, f"{where.key}/_delta_log/_last_checkpoint", json.dumps(hint).encode())
        again = read_txn_log(url, options)
        assert again is not None and (again.version, again.txn_versions) == (13, on_disk.txn_versions), hint


def test_no_table_yet_and_a_folder_that_is_not_a_table(s3_server: S3Server, s3_bucket: str, tmp_path: Path) -> None:
    options = s3_server.storage_options
    assert read_txn_log(f"{s3_bucket}/nothing/here", options) is None
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "part-0.csv").write_text("a,b\n")
    upload(s3_server, tmp_path / "csv", f"{s3_bucket}/raw")
    with pytest.raises(NotADeltaTableError, match="not a Delta table"):
        read_txn_log(f"{s3_bucket}/raw", options)


def test_wrong_credentials_are_an_error_not_a_missing_table(
    s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    upload(s3_server, local_table(tmp_path, 2), f"{s3_bucket}/t")
    wrong = {**s3_server.storage_options, "aws_secret_access_key": "not-the-secret"}
    with pytest.raises(Exception, match=r"(?i)denied|forbidden|signature|403"):
        read_txn_log(f"{s3_bucket}/t", wrong)


def test_sensor_and_trigger_read_s3_with_a_connections_credentials(
    s3_server: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No credentials in the environment: the sensor (and its trigger, in the triggerer) take
    them from an ``aws`` connection, and the trigger's serialized form holds none of them."""
    import asyncio

    from airflow_fanout.examples.medallion import medallion_stream_spec
    from airflow_fanout.sensors.delta_txn import DeltaTxnSensor
    from airflow_fanout.triggers.delta_txn import DeltaTxnTrigger

    conn = {
        "conn_type": "aws",
        "login": "fanout-test-key",
        "password": "fanout-test-secret",
        "extra": {"endpoint_url": s3_server.endpoint, "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_LAKE_S3", json.dumps(conn))
    doc = medallion_stream_spec("/unused")
    for sink in doc["sinks"]:
        sink["path"] = f"{s3_bucket}/{sink['name']}"
    bronze = f"{s3_bucket}/bronze".replace("s3a://", "s3://")
    sensor = DeltaTxnSensor(
        task_id="wait", spec=doc, sinks=["bronze"], expected_version=1, storage_conn_id="lake_s3", poke_interval=0.05
    )
    ctx: Any = {"ti": None}
    assert sensor.poke(ctx) is False  # no table yet
    for version in (0, 1):
        props = CommitProperties(app_transactions=[Transaction("shop_events.bronze", version)])
        data, options = pa.table({"x": [version]}), s3_server.storage_options
        write_deltalake(bronze, data, mode="append", storage_options=options, commit_properties=props)
        assert sensor.poke(ctx) is (version == 1)
    watched = sensor.watched(ctx)
    assert confirmed(watched, sensor.storage_options()) == [
        f"bronze ({s3_bucket}/bronze): txn shop_events.bronze at 1 (expected >= 1), table version 1"
    ]
    assert lagging(watched, sensor.storage_options()) == []

    trigger = DeltaTxnTrigger([w.to_dict() for w in watched], 0.05, timeout=30, storage_conn_id="lake_s3")
    _, kwargs = trigger.serialize()
    assert "fanout-test-secret" not in json.dumps(kwargs)

    async def first_event() -> dict[str, Any]:
        async for event in DeltaTxnTrigger(**kwargs).run():
            return dict(event.payload)
        raise AssertionError("no event")

    event = asyncio.run(first_event())
    assert event["status"] == "success" and event["confirmed"][0].endswith("table version 1")
