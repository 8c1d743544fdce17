"""Conflict retries: bounded, with growing waits, and only for Delta's conflict errors."""

from __future__ import annotations

import pytest

from airflow_fanout.driver.retry import is_conflict, retry_conflicts


class ConcurrentAppendException(Exception):
    """Same name as delta.exceptions.ConcurrentAppendException."""


def flaky(failures: list[Exception]) -> tuple[list[int], object]:
    calls: list[int] = []

    def write() -> str:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return "committed"

    return calls, write


def test_conflicts_are_retried_with_backoff_then_succeed() -> None:
    waits: list[float] = []
    calls, write = flaky([ConcurrentAppendException("files were added"), RuntimeError("[DELTA_CONCURRENT_APPEND] x")])
    assert retry_conflicts(write, what="s", sleep=waits.append) == "committed"  # type: ignore[arg-type]
    assert len(calls) == 3
    assert waits == [1.0, 2.0]


def test_retries_are_bounded() -> None:
    waits: list[float] = []
    calls, write = flaky([ConcurrentAppendException(str(i)) for i in range(10)])
    with pytest.raises(ConcurrentAppendException):
        retry_conflicts(write, what="s", attempts=4, sleep=waits.append)  # type: ignore[arg-type]
    assert len(calls) == 4
    assert waits == [1.0, 2.0, 4.0]


def test_other_errors_fail_at_once() -> None:
    waits: list[float] = []
    calls, write = flaky([ValueError("disk full")])
    with pytest.raises(ValueError, match="disk full"):
        retry_conflicts(write, what="s", sleep=waits.append)  # type: ignore[arg-type]
    assert len(calls) == 1 and waits == []
    assert not is_conflict(RuntimeError("[DELTA_FAILED_TO_MERGE_FIELDS] amount"))
    assert is_conflict(RuntimeError("[DELTA_METADATA_CHANGED] MetadataChangedException: ..."))
