"""``on_kill`` stops a running driver: the spark-submit process ends, the run fails as killed,
and no driver process is left behind."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from airflow_fanout.txnlog import read_txn_log
from tests.driver.helpers import rows

pytestmark = pytest.mark.slow


def test_on_kill_stops_a_running_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_fanout.hooks.fanout import FanOutHook

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", json.dumps({"conn_type": "spark", "host": "local[1]"}))
    sink = str(tmp_path / "ticks")
    spec = {
        "version": 1,
        "app_id": "endless",
        "source": {"format": "rate", "options": {"rowsPerSecond": 5}},
        "run": {"mode": "stream", "checkpoint": str(tmp_path / "cp"), "trigger": {"processing_time": "1 second"}},
        "sinks": [{"name": "ticks", "path": sink, "mode": "append"}],
    }
    hook = FanOutHook()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["report"] = hook.run(spec)
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 180
    while (log := read_txn_log(sink)) is None or log.txn_version("endless.ticks") is None:
        assert thread.is_alive(), outcome
        assert time.monotonic() < deadline, "the stream never committed a batch"
        time.sleep(1)

    submit = hook._submit_hook._submit_sp  # type: ignore[union-attr]
    assert submit is not None and submit.poll() is None
    children = psutil.Process(submit.pid).children(recursive=True)
    hook.on_kill()
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert "error" in outcome and "report" not in outcome
    assert submit.poll() is not None
    _, alive = psutil.wait_procs(children, timeout=60)
    assert alive == [], f"left behind: {[p.cmdline() for p in alive]}"


class FakeTI:
    """The task instance fields a fan-out task reads (its reports' folder, its try)."""

    def __init__(self, try_number: int) -> None:
        self.dag_id, self.run_id, self.task_id, self.map_index = "killdag", "run:1", "write", -1
        self.try_number = try_number
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def task_context(try_number: int) -> Any:
    return {"ti": FakeTI(try_number)}


def test_killed_task_retried_matches_a_clean_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow kills the task mid-batch (``on_kill``: timeout, "mark failed"), then retries it: the
    retry replays the batch, skips the sinks that had committed, and the tables end up exactly
    as a clean run leaves them."""
    import shutil

    from airflow_fanout.operators.fanout import FanOutAvailableNowOperator
    from tests.reliability.killloop import (
        APP_ID,
        KillLoopResult,
        compare_tables,
        kill_spec,
        land_batch,
        run_to_completion,
    )

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", json.dumps({"conn_type": "spark", "host": "local[2]"}))
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    for batch in range(2):
        land_batch(killed / "landing", batch)
    conf = {"spark.ui.enabled": "false"}
    first_try = FanOutAvailableNowOperator(task_id="write", spec=kill_spec(killed), conf=conf)
    outcome: dict[str, Any] = {}

    def execute() -> None:
        try:
            outcome["report"] = first_try.execute(task_context(1))
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=execute, daemon=True)
    thread.start()
    bronze = str(killed / "lake" / "bronze")
    deadline = time.monotonic() + 300
    while (log := read_txn_log(bronze)) is None or log.txn_version(f"{APP_ID}.bronze") is None:
        assert thread.is_alive(), outcome
        assert time.monotonic() < deadline, "batch 0 never reached bronze"
        time.sleep(0.2)
    hook = first_try._hook
    assert hook is not None and hook._submit_hook is not None
    submit = hook._submit_hook._submit_sp
    assert submit is not None
    children = psutil.Process(submit.pid).children(recursive=True)
    first_try.on_kill()
    thread.join(timeout=120)
    assert "error" in outcome and "report" not in outcome
    _, alive = psutil.wait_procs(children, timeout=60)
    assert alive == [], f"left behind: {[p.cmdline() for p in alive]}"

    retry = FanOutAvailableNowOperator(task_id="write", spec=kill_spec(killed), conf=conf)
    report = retry.execute(task_context(2))
    assert report["status"] == "succeeded"
    # The retry's report covers the run: the batch the killed try committed to bronze is in it,
    # counted once and marked as that try's; its XCom keeps totals, the file every batch.
    # (two files, usually two batches: a batch restarted after a kill may take both)
    assert report["batch_ids"][0] == 0 and report["sinks"]["bronze"]["batches_written"] == len(report["batch_ids"])
    assert report["sinks"]["bronze"]["rows_written"] == len(rows(bronze))
    whole = json.loads(Path(report["report"]).read_text())
    assert Path(report["report"]).parent == killed / "checkpoint" / "_fanout/reports/airflow/killdag/run_1/write"
    marks = {(b["batch_id"], s["sink"]): s["committed_by_attempt"] for b in whole["batches"] for s in b["sinks"]}
    assert marks[(0, "bronze")] == 1  # the killed try committed it; the retry skipped it

    shutil.copytree(killed / "landing", clean / "landing", copy_function=shutil.copy2)
    (clean / "spec.json").write_text(json.dumps(kill_spec(clean, one_batch=True)))
    assert run_to_completion(clean / "spec.json", clean / "report.json").proc.returncode == 0
    result = KillLoopResult()
    compare_tables(killed, clean, result)
    assert result.mismatches == []
