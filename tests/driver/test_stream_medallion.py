"""The medallion spec as a stream, in-process on the shared SparkSession: tables, txn entries,
replays, crash resume and checkpoint reset, all checked on the data written."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from airflow_fanout.driver.runner import FanOutRun
from airflow_fanout.examples.medallion import medallion_stream_spec
from airflow_fanout.exceptions import CheckpointResetError, RunError
from airflow_fanout.sample_data import Event, generate_events, write_landing_batch
from airflow_fanout.spec import parse_spec
from tests.driver.helpers import commits, gold_as_dict, rows, txn, version
from tests.expected import gold_rows, silver_rows

pytestmark = pytest.mark.spark
ROWS = 120


def land(root: Path, batches: range) -> list[Event]:
    events: list[Event] = []
    for b in batches:
        batch = generate_events(b, ROWS)
        write_landing_batch(root / "landing", b, batch)
        events += batch
    return events


def run_spec(spark: Any, doc: dict[str, Any]) -> FanOutRun:
    run = FanOutRun(spark, parse_spec(doc))
    run.run()
    return run


def tables(doc: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["path"] for s in doc["sinks"]}


def assert_medallion(doc: dict[str, Any], events: list[Event]) -> None:
    paths = tables(doc)
    bronze = rows(paths["bronze"])
    assert len(bronze) == len(events)
    assert all(r["_ingested_at"] is not None for r in bronze)
    silver = rows(paths["silver"])
    expected_silver = silver_rows(events)
    assert sorted(r["event_id"] for r in silver) == sorted(expected_silver)
    assert {r["event_id"]: r["amount"] for r in silver} == {k: e.amount for k, e in expected_silver.items()}
    assert gold_as_dict(paths["gold"]) == gold_rows(events)


def test_stream_writes_every_sink_once_per_batch(spark: Any, tmp_path: Path) -> None:
    doc = medallion_stream_spec(tmp_path)
    events = land(tmp_path, range(3))
    run = run_spec(spark, doc)

    assert [b.batch_id for b in run.report.batches] == [0, 1, 2]  # maxFilesPerTrigger=1
    assert_medallion(doc, events)
    for name, path in tables(doc).items():
        assert txn(path, f"shop_events.{name}") == 2
    bronze_rows = [next(r for r in b.sinks if r.sink == "bronze").rows_written for b in run.report.batches]
    assert bronze_rows == [ROWS, ROWS, ROWS]  # rows come from the commit metrics

    # Late events land in old windows in the next batch: gold still equals the aggregate of silver.
    events += land(tmp_path, range(3, 4))
    run_spec(spark, doc)
    assert_medallion(doc, events)


def test_rerun_without_new_input_writes_nothing(spark: Any, tmp_path: Path) -> None:
    doc = medallion_stream_spec(tmp_path)
    land(tmp_path, range(2))
    run_spec(spark, doc)
    before = {n: version(p) for n, p in tables(doc).items()}
    again = run_spec(spark, doc)
    assert again.report.batches == []
    assert {n: version(p) for n, p in tables(doc).items()} == before


def test_replayed_batch_is_skipped_by_every_sink(spark: Any, tmp_path: Path) -> None:
    doc = medallion_stream_spec(tmp_path)
    events = land(tmp_path, range(2))
    run_spec(spark, doc)
    before = {n: version(p) for n, p in tables(doc).items()}

    # Feed batch 1 again, as Spark does after a crash between the writes and the checkpoint commit.
    replay = FanOutRun(spark, parse_spec(doc))
    frame = spark.read.schema(doc["source"]["schema"]).json(str(tmp_path / "landing" / "batch-0001.json"))
    replay.write_batch(frame, 1)

    assert [r.status for r in replay.report.batches[0].sinks] == ["skipped"] * 3
    assert {n: version(p) for n, p in tables(doc).items()} == before
    assert_medallion(doc, events)


def test_crash_after_some_sinks_resumes_only_the_missing_ones(spark: Any, tmp_path: Path) -> None:
    doc = medallion_stream_spec(tmp_path)
    events = land(tmp_path, range(2))
    # gold's upstream path is wrong for this run: silver and bronze commit batch 0, gold fails.
    broken = {**doc, "sinks": [dict(s) for s in doc["sinks"]]}
    broken["sinks"][2]["where"] = "raise_error('disk on fire') IS NULL"
    with pytest.raises(Exception, match="gold"):
        run_spec(spark, broken)
    paths = tables(doc)
    assert txn(paths["bronze"], "shop_events.bronze") == 0
    assert txn(paths["silver"], "shop_events.silver") == 0
    assert commits(paths["gold"]) == []  # gold's first write (an append) never committed
    bronze_version = version(paths["bronze"])

    rerun = run_spec(spark, doc)  # the fixed spec: batch 0 is replayed, then batch 1
    first = {r.sink: r.status for r in rerun.report.batches[0].sinks}
    assert rerun.report.batches[0].batch_id == 0
    assert first == {"bronze": "skipped", "silver": "skipped", "gold": "written"}
    assert version(paths["bronze"]) == bronze_version + 1  # only batch 1 was appended
    assert_medallion(doc, events)


def test_reset_checkpoint_is_refused(spark: Any, tmp_path: Path) -> None:
    doc = medallion_stream_spec(tmp_path)
    land(tmp_path, range(2))
    run_spec(spark, doc)
    shutil.rmtree(doc["run"]["checkpoint"])
    before = {n: version(p) for n, p in tables(doc).items()}
    with pytest.raises(CheckpointResetError, match=r"deleted or reset.*bronze \(txn shop_events.bronze at 1\)"):
        run_spec(spark, doc)
    assert {n: version(p) for n, p in tables(doc).items()} == before


def test_failing_sink_names_sink_and_batch(spark: Any, tmp_path: Path) -> None:
    doc = medallion_stream_spec(tmp_path)
    land(tmp_path, range(1))
    doc["sinks"][0]["columns"] = {"amount": "CAST(amount AS STRING)"}
    run_spec(spark, doc)
    doc["sinks"][0]["columns"] = {"amount": "array(amount)"}  # incompatible type on the next batch
    land(tmp_path, range(1, 2))
    with pytest.raises(Exception, match=r"sink 'bronze', batch 1") as info:
        run_spec(spark, doc)
    assert "column 'amount': the table has string, the batch has array<double>" in str(info.value)


def test_empty_batch_still_records_progress(spark: Any, tmp_path: Path) -> None:
    doc = medallion_stream_spec(tmp_path)
    land(tmp_path, range(1))
    (tmp_path / "landing" / "batch-0001.json").write_text("")  # a file with no rows
    run = run_spec(spark, doc)
    assert [b.batch_id for b in run.report.batches] == [0, 1]
    for name, path in tables(doc).items():
        assert txn(path, f"shop_events.{name}") == 1, name


def test_runerror_type_for_sink_failures(spark: Any, tmp_path: Path) -> None:
    doc = medallion_stream_spec(tmp_path)
    doc["run"]["mode"] = "batch"
    doc["run"].pop("trigger")
    doc["run"]["slice"] = {"key": "all", "where": "true"}
    land(tmp_path, range(1))
    doc["sinks"][1]["where"] = "raise_error('boom') IS NULL"
    with pytest.raises(RunError) as info:
        run_spec(spark, doc)
    assert info.value.sink == "silver"
