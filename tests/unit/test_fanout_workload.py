"""Benchmark workload A: the generator is deterministic and split-independent, the expected tables
follow from the data, and the driver spec built for every K is valid. No Spark."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_fanout.spec.validate import parse_spec, validate_spec
from benchmarks.fanout_workload import (
    AGGREGATE_COLUMNS,
    EVENT_TYPES,
    MAX_K,
    SINKS,
    expected_stats,
    fanout_spec,
    generate,
    sinks,
)


def _lines(paths: list[Path]) -> list[str]:
    return [line for p in paths for line in p.read_text().splitlines()]


def test_same_arguments_give_byte_identical_files(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", 3_000, files=3, seed=7)
    again = generate(tmp_path / "b", 3_000, files=3, seed=7)
    assert [p.name for p in first] == [p.name for p in again]
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in again]
    other_seed = generate(tmp_path / "c", 3_000, files=3, seed=8)
    assert [p.read_bytes() for p in first] != [p.read_bytes() for p in other_seed]


def test_rows_do_not_depend_on_the_file_split_and_increments_sort_after(tmp_path: Path) -> None:
    whole = generate(tmp_path / "whole", 2_000, files=1, seed=7)
    base = generate(tmp_path / "split", 1_500, files=4, seed=7)
    increment = generate(tmp_path / "split", 500, files=2, seed=7, start_index=1_500)
    assert _lines(whole) == _lines(base + increment)
    names = sorted(p.name for p in (tmp_path / "split").iterdir())
    assert names == [p.name for p in base + increment]  # arrival order = name order


def test_rows_are_valid_json_with_the_schema_columns_and_resent_duplicates(tmp_path: Path) -> None:
    records = [json.loads(line) for line in _lines(generate(tmp_path, 5_000, files=2, seed=7))]
    assert set(records[0]) == {
        "event_id",
        "user_id",
        "event_type",
        "country",
        "device",
        "amount",
        "quantity",
        "ts",
        "session_id",
        "referrer",
    }
    assert {r["event_type"] for r in records} == set(EVENT_TYPES)
    by_id: dict[str, list[dict[str, object]]] = {}
    for r in records:
        by_id.setdefault(str(r["event_id"]), []).append(r)
    repeated = [rs for rs in by_id.values() if len(rs) > 1]
    assert 0.005 < len(repeated) / len(records) < 0.05
    assert all(all(r == rs[0] for r in rs) for rs in repeated)  # exact re-sends


def test_expected_stats_match_the_written_rows(tmp_path: Path) -> None:
    records = [json.loads(line) for line in _lines(generate(tmp_path, 4_000, files=2, seed=3))]
    stats = expected_stats(4_000, 3)
    assert stats["bronze"].rows == len(records)
    assert stats["events_dedup"].rows == len({r["event_id"] for r in records})
    assert stats["purchases"].rows == sum(r["event_type"] == "purchase" for r in records)
    assert stats["hourly_by_country"].rows == len({(r["ts"][:13], r["country"]) for r in records})
    assert stats["hourly_by_country"].events == len(records)
    routed = sum(stats[n].rows for n in ("purchases", "views", "clicks", "carts", "other"))
    assert routed == len(records)
    assert stats["bronze"].amount == pytest.approx(sum(float(r["amount"]) for r in records))


def test_sink_order_and_k_prefixes() -> None:
    assert [s.name for s in SINKS] == [
        "bronze",
        "events_dedup",
        "hourly_by_country",
        "purchases",
        "views",
        "clicks",
        "carts",
        "other",
    ]
    assert [s.kind for s in sinks(4)] == ["append", "merge", "aggregate", "append"]
    assert len(AGGREGATE_COLUMNS) == 5
    with pytest.raises(ValueError):
        sinks(0)
    with pytest.raises(ValueError):
        sinks(MAX_K + 1)


@pytest.mark.parametrize("k", range(1, MAX_K + 1))
def test_fanout_spec_is_valid_for_every_k(k: int) -> None:
    doc = fanout_spec(k, "/land", "/lake", "/ckpt")
    assert validate_spec(doc) == []
    spec = parse_spec(doc)
    assert [s.name for s in spec.sinks] == [s.name for s in SINKS[:k]]
    assert spec.run.mode == "stream" and spec.run.trigger.kind == "available_now"
    assert all(s.path == f"/lake/{s.name}" for s in spec.sinks)
    if k >= 3:
        aggregate = spec.sink("hourly_by_country")
        assert aggregate.upstream == "bronze" and aggregate.aggregate is not None
    if k == MAX_K:
        assert spec.sink("other").catch_all


def test_event_log_counts_source_reads_apart_from_cache_and_delta_log_reads(tmp_path: Path) -> None:
    """Jobs, stages, and source bytes = input of the tasks that ran a landing-file scan only."""
    from benchmarks.fanout_jobs.eventlog import find_event_log, summarize_event_log

    def scan(name: str, location: str, rows_id: int) -> dict[str, object]:
        metrics = [{"name": "number of output rows", "accumulatorId": rows_id, "metricType": "sum"}]
        return {"nodeName": name, "simpleString": f"FileScan json Location: {location}", "metrics": metrics}

    def task(stage: int, read: int, acc_ids: list[int]) -> dict[str, object]:
        accs = [{"ID": i, "Update": "10"} for i in acc_ids]
        return {
            "Event": "SparkListenerTaskEnd",
            "Stage ID": stage,
            "Task Info": {"Accumulables": accs},
            "Task Metrics": {"Input Metrics": {"Bytes Read": read}},
        }

    plan = {
        "nodeName": "Union",
        "simpleString": "Union",
        "metrics": [],
        "children": [
            scan("Scan json ", "InMemoryFileIndex(2 paths)[file:/land/a.json", 1),
            scan("Scan json ", "DeltaLogFileIndex(1 paths)[file:/lake/t/_delta...", 2),
        ],
    }
    events = [
        {"Event": "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart", "sparkPlanInfo": plan},
        {"Event": "SparkListenerJobStart", "Job ID": 0, "Submission Time": 0, "Stage IDs": [0, 1], "Properties": {}},
        task(0, 1000, [1]),  # reads the landing files
        task(0, 1000, [1]),  # reads them again (no cache)
        task(1, 300, []),  # reads a cached block
        task(1, 50, [2]),  # Delta reads its log
        {"Event": "SparkListenerStageCompleted"},
        {"Event": "SparkListenerJobEnd", "Job ID": 0, "Completion Time": 1500},
    ]
    folder = tmp_path / "eventlog"
    folder.mkdir()
    (folder / "local-1").write_text("\n".join(json.dumps(e) for e in events) + "\n")
    summary = summarize_event_log(find_event_log(folder))
    assert (summary.jobs, summary.stages, summary.tasks) == (1, 1, 4)
    assert summary.source_bytes == 2000
    assert summary.input_bytes_total == 2350
    assert summary.job_list[0].duration_s == 1.5 and summary.job_list[0].stages == 2
