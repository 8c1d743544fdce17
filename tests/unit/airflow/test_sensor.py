"""DeltaTxnSensor and DeltaTxnTrigger on tables written by delta-rs (JVM-free and quick): targets
from a report, a fixed version or a slice; "not yet" vs errors; the time-out message."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout
from deltalake import CommitProperties, Transaction, write_deltalake

from airflow_fanout.examples.medallion import medallion_backfill_spec, medallion_stream_spec
from airflow_fanout.sensors.delta_txn import DeltaTxnSensor
from airflow_fanout.status import WatchedSink
from airflow_fanout.triggers.delta_txn import DeltaTxnTrigger


def commit(path: str, app_id: str, version: int) -> None:
    write_deltalake(
        path,
        pa.table({"x": [version]}),
        mode="append",
        commit_properties=CommitProperties(app_transactions=[Transaction(app_id, version)]),
    )


class FakeTI:
    def __init__(self, report: Any) -> None:
        self.report = report

    def xcom_pull(self, task_ids: str) -> Any:
        assert task_ids == "fan_out"
        return self.report


def context(report: Any = None) -> Any:
    return {"ti": FakeTI(report)}


def report(versions: dict[str, int]) -> dict[str, Any]:
    return {"sinks": {name: {"txn_version": v} for name, v in versions.items()}}


def test_waits_for_the_versions_in_the_run_report(tmp_path: Path) -> None:
    doc = medallion_stream_spec(tmp_path)
    paths = {s["name"]: s["path"] for s in doc["sinks"]}
    sensor = DeltaTxnSensor(task_id="wait", spec=doc, report_task_id="fan_out")
    ctx = context(report({"bronze": 2, "silver": 2, "gold": 2}))
    assert sensor.poke(ctx) is False  # no tables yet: not yet, not an error
    for name in ("bronze", "silver"):
        commit(paths[name], f"shop_events.{name}", 2)
    commit(paths["gold"], "shop_events.gold", 1)
    assert sensor.poke(ctx) is False
    commit(paths["gold"], "shop_events.gold", 2)
    assert sensor.poke(ctx) is True
    # A run that wrote no batch lists no sinks: nothing to wait for.
    assert DeltaTxnSensor(task_id="w", spec=doc, report_task_id="fan_out").poke(context({"sinks": {}})) is True


def test_backfill_slice_watch_uses_the_slice_app_ids_and_the_views_upstream_commit(tmp_path: Path) -> None:
    doc = medallion_backfill_spec(tmp_path)
    sensor = DeltaTxnSensor(task_id="wait", spec=doc, spec_params={"ds": "2026-11-02"})
    bronze, silver, gold = sensor.watched(context())
    assert [bronze.txn_app_id, silver.txn_app_id] == [f"shop_backfill.{n}.2026-11-02" for n in ("bronze", "silver")]
    # gold is a view of silver's table: it records silver versions under one app id for all slices
    assert (gold.txn_app_id, gold.after) == ("shop_backfill.gold", silver)
    for w in (bronze, silver):
        commit(w.path, w.txn_app_id.replace("11-02", "11-01"), 0)  # another day only
    commit(gold.path, "shop_backfill.gold", 0)
    assert sensor.poke(context()) is False
    assert gold.target() is None  # silver has not written the day yet
    for w in (bronze, silver):
        commit(w.path, w.txn_app_id, 0)  # silver's version 1 holds the day
    commit(silver.path, "shop_backfill.silver.2026-11-03", 0)  # a later commit of another day
    assert gold.target() == 1
    assert sensor.poke(context()) is False  # gold still at silver version 0
    commit(gold.path, "shop_backfill.gold", 1)
    assert sensor.poke(context()) is True


def test_timeout_names_each_lagging_sink(tmp_path: Path) -> None:
    doc = medallion_stream_spec(tmp_path)
    commit(doc["sinks"][0]["path"], "shop_events.bronze", 1)
    sensor = DeltaTxnSensor(task_id="wait", spec=doc, expected_version=3, poke_interval=0.1, timeout=0.3, mode="poke")
    with pytest.raises(AirflowSensorTimeout) as info:
        sensor.execute(context())
    message = str(info.value)
    assert "bronze" in message and "txn shop_events.bronze at 1, expected >= 3" in message
    assert "gold" in message and "a view of silver, waiting for silver to commit txn shop_events.silver >= 3" in message


def test_stream_spec_needs_a_target(tmp_path: Path) -> None:
    with pytest.raises(AirflowException, match="report_task_id or expected_version"):
        DeltaTxnSensor(task_id="w", spec=medallion_stream_spec(tmp_path)).poke(context())


def test_trigger_events(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    watched = [WatchedSink("bronze", path, "a.bronze", 1).to_dict()]

    async def first_event(trigger: DeltaTxnTrigger) -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    timed_out = asyncio.run(first_event(DeltaTxnTrigger(watched, poll_interval=0.05, timeout=0.2)))
    assert timed_out["status"] == "timeout"
    assert timed_out["lagging"] == [f"bronze ({path}): txn a.bronze at nothing, expected >= 1"]
    commit(path, "a.bronze", 1)
    assert asyncio.run(first_event(DeltaTxnTrigger(watched, poll_interval=0.05)))["status"] == "success"
    classname, kwargs = DeltaTxnTrigger(watched, 5.0, timeout=60.0).serialize()
    assert classname == "airflow_fanout.triggers.delta_txn.DeltaTxnTrigger"
    restarted = DeltaTxnTrigger(**kwargs)  # what a restarted triggerer builds: the same deadline
    assert restarted.watched == watched and restarted.end_time == kwargs["end_time"]
    assert kwargs["end_time"] == pytest.approx(time.time() + 60.0, abs=5)

    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "x.csv").write_text("1\n")
    bad = [WatchedSink("bronze", str(tmp_path / "csv"), "a.bronze", 1).to_dict()]
    event = asyncio.run(first_event(DeltaTxnTrigger(bad, poll_interval=0.05)))
    assert event["status"] == "error" and "not a Delta table" in event["message"]


def test_openlineage_inputs_and_outputs(tmp_path: Path) -> None:
    from airflow_fanout.operators.fanout import FanOutAvailableNowOperator
    from airflow_fanout.operators.lineage import dataset_name

    doc = medallion_stream_spec(tmp_path)
    lineage = FanOutAvailableNowOperator(task_id="t", spec=doc).get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("file", doc["source"]["path"])]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("file", s["path"]) for s in doc["sinks"]]
    assert dataset_name("s3://lake/gold/t", None) == ("s3://lake", "gold/t")
    assert dataset_name(None, "silver.events") == ("spark_catalog", "silver.events")


def test_deferrable_sensor_defers_then_completes_from_the_trigger_event(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    doc = medallion_stream_spec(tmp_path)
    sensor = DeltaTxnSensor(
        task_id="wait", spec=doc, expected_version=0, deferrable=True, poke_interval=0.05, timeout=30
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, DeltaTxnTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert [w["txn_app_id"] for w in trigger.watched] == [f"shop_events.{n}" for n in ("bronze", "silver", "gold")]

    for sink in doc["sinks"]:
        commit(sink["path"], f"shop_events.{sink['name']}", 0)

    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    event = asyncio.run(first_event())
    assert event["status"] == "success"
    assert event["confirmed"] == [
        f"{s['name']} ({s['path']}): txn shop_events.{s['name']} at 0 (expected >= 0), table version 0"
        for s in doc["sinks"]
    ]
    sensor.execute_complete(context(), event)  # returns: the sensor succeeds, saying what it saw
    assert f"confirmed: {event['confirmed'][2]}" in capsys.readouterr().out
    with pytest.raises(AirflowSensorTimeout, match="gold"):
        sensor.execute_complete(context(), {"status": "timeout", "lagging": ["gold (/x): txn g at nothing"]})


def test_the_trigger_retries_failed_reads_and_gives_up_after_a_run_of_them(monkeypatch: pytest.MonkeyPatch) -> None:
    import airflow_fanout.triggers.delta_txn as module

    reads = iter([OSError("connection reset"), OSError("connection reset"), []])

    def flaky(*_: object) -> list[str]:
        outcome = next(reads)
        if isinstance(outcome, Exception):
            raise outcome
        assert isinstance(outcome, list)
        return outcome

    async def first_event(trigger: DeltaTxnTrigger) -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    watched = [WatchedSink("bronze", "/nowhere", "a.bronze", 1).to_dict()]
    monkeypatch.setattr(module, "lagging", flaky)
    assert asyncio.run(first_event(DeltaTxnTrigger(watched, poll_interval=0.01)))["status"] == "success"

    def broken(*_: object) -> list[str]:
        raise OSError("bucket unreachable")

    monkeypatch.setattr(module, "lagging", broken)
    event = asyncio.run(first_event(DeltaTxnTrigger(watched, poll_interval=0.01)))
    assert event["status"] == "error" and "5 reads of the Delta logs failed in a row" in event["message"]


def test_sensor_defaults_follow_default_deferrable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import importlib

    import airflow_fanout.sensors.delta_txn as module

    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    try:
        reloaded = importlib.reload(module)
        assert reloaded.DeltaTxnSensor(task_id="w", spec=medallion_stream_spec(tmp_path), expected_version=0).deferrable
    finally:
        monkeypatch.delenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE")
        importlib.reload(module)
