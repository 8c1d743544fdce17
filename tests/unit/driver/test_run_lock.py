"""The run lock: one run per spec (and slice) at a time; a dead owner's lock is taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from airflow_fanout.driver.object_lock import ObjectRunLock
from airflow_fanout.driver.run_lock import RunLock
from airflow_fanout.exceptions import ConcurrentRunError
from airflow_fanout.spec.validate import parse_spec


def spec_doc(checkpoint: str, slice_key: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": 1,
        "app_id": "shop",
        "source": {"format": "json", "path": "/in", "schema": "a INT"},
        "run": {"mode": "stream", "checkpoint": checkpoint},
        "sinks": [{"name": "raw", "path": "/out/raw", "mode": "append"}],
    }
    if slice_key is not None:
        doc["run"] = {"mode": "batch", "checkpoint": checkpoint, "slice": {"key": slice_key, "where": "a > 0"}}
    return doc


def lock_for(checkpoint: Path, slice_key: str | None = None) -> RunLock:
    lock = RunLock.for_spec(parse_spec(spec_doc(str(checkpoint), slice_key)))
    assert isinstance(lock, RunLock)
    return lock


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_second_run_is_refused_naming_the_first_then_runs_after_release(tmp_path: Path) -> None:
    first = lock_for(tmp_path / "cp")
    first.acquire()
    owner = json.loads(first.path.read_text())
    assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
    assert first.path == tmp_path / "cp" / "_fanout" / "locks" / "stream.lock"
    with pytest.raises(ConcurrentRunError, match=rf"another run of app shop is in progress: pid {os.getpid()} on host"):
        lock_for(tmp_path / "cp").acquire()
    first.release()
    assert not first.path.exists()
    again = lock_for(tmp_path / "cp")
    again.acquire()
    assert again.held


def test_a_dead_owner_on_this_host_is_taken_over(tmp_path: Path) -> None:
    lock = lock_for(tmp_path / "cp")
    lock.path.parent.mkdir(parents=True)
    lock.path.write_text(json.dumps({"host": socket.gethostname(), "pid": dead_pid(), "started_at": "then"}))
    lock.acquire()
    assert json.loads(lock.path.read_text())["pid"] == os.getpid()


def test_a_reused_pid_is_not_the_owner(tmp_path: Path) -> None:
    lock = lock_for(tmp_path / "cp")
    lock.path.parent.mkdir(parents=True)
    # our own pid, but another process start time: the owner died and the pid was reused
    stale = {"host": socket.gethostname(), "pid": os.getpid(), "pid_started": "1", "started_at": "then"}
    lock.path.write_text(json.dumps(stale))
    lock.acquire()
    assert json.loads(lock.path.read_text())["pid_started"] != "1"


def test_an_owner_on_another_host_is_never_taken_over(tmp_path: Path) -> None:
    lock = lock_for(tmp_path / "cp")
    lock.path.parent.mkdir(parents=True)
    lock.path.write_text(json.dumps({"host": "elsewhere", "pid": dead_pid(), "started_at": "then"}))
    with pytest.raises(ConcurrentRunError, match="on host elsewhere since then"):
        lock.acquire()
    assert json.loads(lock.path.read_text())["host"] == "elsewhere"


def test_slices_lock_separately_and_release_only_their_own(tmp_path: Path) -> None:
    day1, day2 = lock_for(tmp_path / "cp", "2026-11-01"), lock_for(tmp_path / "cp", "2026-11-02")
    day1.acquire()
    day2.acquire()
    assert day1.path.name == "slice-2026-11-01.lock" and day2.path != day1.path
    with pytest.raises(ConcurrentRunError, match="app shop slice 2026-11-01"):
        lock_for(tmp_path / "cp", "2026-11-01").acquire()
    day1.release()
    assert not day1.path.exists() and day2.path.exists()


def test_object_store_checkpoints_get_a_lease() -> None:
    """(The lease itself is tested against a real S3 server in tests/s3/test_run_lock_s3.py.)"""
    lock = RunLock.for_spec(parse_spec(spec_doc("s3a://bucket/cp/", "d-1")))
    assert isinstance(lock, ObjectRunLock)
    assert lock.path == "s3://bucket/cp/_fanout/locks/slice-d-1.lock"


def test_a_view_lock_waits_for_the_run_holding_it(tmp_path: Path) -> None:
    """Two slices' runs write the same view one after the other: the second waits, then holds."""
    spec = parse_spec(spec_doc(str(tmp_path), "d1"))
    first, second = RunLock.for_view(spec, "gold"), RunLock.for_view(spec, "gold")
    assert isinstance(first, RunLock) and isinstance(second, RunLock)
    assert first.path == tmp_path / "_fanout" / "locks" / "view-gold.lock"
    # Another live process holds it (this process's lock would be its own): a child that sleeps.
    holder = subprocess.Popen(["sleep", "30"])
    try:
        owner = {"host": socket.gethostname(), "pid": holder.pid, "pid_started": None, "started_at": "now"}
        first.path.parent.mkdir(parents=True)
        first.path.write_text(json.dumps(owner))
        with pytest.raises(ConcurrentRunError, match="view gold of app shop"):
            second.wait(timeout_s=0.3, poll_s=0.05)
        holder.kill()
        holder.wait()
        second.wait(timeout_s=5, poll_s=0.05)  # the holder is gone: taken over
        assert json.loads(second.path.read_text())["pid"] == os.getpid()
    finally:
        holder.kill()
        second.release()
    assert not second.path.exists()
    assert isinstance(RunLock.for_view(parse_spec(spec_doc("s3a://bucket/cp", "d1")), "gold"), ObjectRunLock)
