"""Which sink writes when: each sink starts once its upstream is written (not once its upstream's
whole level is), at most ``max_parallel_sinks`` at once, and a failure starts nothing new.

The writes here are replaced by timed stand-ins (the real ones are covered, with their data, by
the medallion, aggregate and failure tests): the order of starts and ends is what is tested."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_fanout.driver.report import SinkResult
from airflow_fanout.driver.runner import BatchState, FanOutRun
from airflow_fanout.spec import parse_spec
from airflow_fanout.spec.model import SinkSpec
from tests.driver.helpers import json_stream_spec


class Recorder:
    """Stands in for ``FanOutRun._write_one``: sleeps ``seconds[sink]``, records starts and ends,
    raises for the sinks in ``failing``, and tracks how many writes overlap."""

    def __init__(self, seconds: dict[str, float], failing: frozenset[str] = frozenset()) -> None:
        self.seconds, self.failing = seconds, failing
        self.events: list[str] = []
        self.running = self.most_running = 0
        self._lock = threading.Lock()

    def __call__(self, sink: SinkSpec, state: BatchState) -> SinkResult:
        with self._lock:
            self.events.append(f"start {sink.name}")
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        time.sleep(self.seconds.get(sink.name, 0.05))
        with self._lock:
            self.events.append(f"end {sink.name}")
            self.running -= 1
        if sink.name in self.failing:
            raise RuntimeError(f"{sink.name} failed")
        return SinkResult(sink.name, sink.ref.target, "app", state.txn_version, "written", 0, 1, 0.0)


def make_run(spark: Any, tmp_path: Path, sinks: list[dict[str, Any]], max_parallel: int) -> FanOutRun:
    doc = json_stream_spec(tmp_path, "schedule", sinks)
    doc["run"]["max_parallel_sinks"] = max_parallel
    return FanOutRun(spark, parse_spec(doc))


def append(tmp_path: Path, name: str, upstream: str | None = None) -> dict[str, Any]:
    sink: dict[str, Any] = {"name": name, "path": str(tmp_path / name), "mode": "append"}
    if upstream:
        sink["from"] = upstream
    return sink


def batch_state() -> BatchState:
    return BatchState(batch_id=0, txn_version=0, params={}, tables={}, frames={})


def test_a_downstream_sink_starts_when_its_upstream_is_written_not_when_its_level_is(
    spark: Any, tmp_path: Path
) -> None:
    run = make_run(
        spark, tmp_path, [append(tmp_path, "slow"), append(tmp_path, "bronze"), append(tmp_path, "gold", "bronze")], 2
    )
    recorder = Recorder({"slow": 1.5, "bronze": 0.1, "gold": 0.1})
    run._write_one = recorder  # type: ignore[method-assign]
    results = run._write_sinks(batch_state())
    assert [r.sink for r in results] == ["slow", "bronze", "gold"]  # the report keeps the plan's order
    events = recorder.events
    assert events.index("end bronze") < events.index("start gold") < events.index("end slow"), events


def test_a_sink_whose_upstream_is_written_takes_the_next_thread_before_waiting_routes(
    spark: Any, tmp_path: Path
) -> None:
    """bronze and r1 start; bronze ends first; gold (from bronze) starts in its thread, ahead of
    r2 and r3, which were ready from the start (the aggregate would otherwise end the batch)."""
    sinks = [append(tmp_path, n) for n in ("bronze", "r1", "r2", "r3")] + [append(tmp_path, "gold", "bronze")]
    run = make_run(spark, tmp_path, sinks, 2)
    recorder = Recorder({"bronze": 0.1, "r1": 0.6, "r2": 0.1, "r3": 0.1, "gold": 0.1})
    run._write_one = recorder  # type: ignore[method-assign]
    run._write_sinks(batch_state())
    starts = [e.removeprefix("start ") for e in recorder.events if e.startswith("start ")]
    assert starts == ["bronze", "r1", "gold", "r2", "r3"], recorder.events


def test_no_more_than_max_parallel_sinks_write_at_once(spark: Any, tmp_path: Path) -> None:
    names = ["a", "b", "c", "d", "e"]
    run = make_run(spark, tmp_path, [append(tmp_path, n) for n in names], 2)
    recorder = Recorder(dict.fromkeys(names, 0.2))
    run._write_one = recorder  # type: ignore[method-assign]
    assert [r.sink for r in run._write_sinks(batch_state())] == names
    assert recorder.most_running == 2


def test_after_a_failed_write_running_writes_finish_and_no_other_starts(spark: Any, tmp_path: Path) -> None:
    sinks = [
        append(tmp_path, "slow"),
        append(tmp_path, "bronze"),
        append(tmp_path, "gold", "bronze"),
        append(tmp_path, "late"),
    ]
    run = make_run(spark, tmp_path, sinks, 2)
    recorder = Recorder({"slow": 0.5, "bronze": 0.05}, failing=frozenset({"bronze"}))
    run._write_one = recorder  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="bronze failed"):
        run._write_sinks(batch_state())
    assert "end slow" in recorder.events  # the write already running was not cut off
    assert "start gold" not in recorder.events and "start late" not in recorder.events
