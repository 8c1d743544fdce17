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
