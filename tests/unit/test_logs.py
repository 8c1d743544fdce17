"""Reading a driver run's printed lines: the driver's and Spark's formats, tracebacks keep the
level of the line they continue, anything else is plain output."""

from __future__ import annotations

import logging

from airflow_fanout.logs import LineReader


def test_levels_sources_and_continuations() -> None:
    reader = LineReader()
    lines = [
        "2026-12-01 03:45:50,123 INFO airflow_fanout.driver: batch 3 done: 5 sink(s) written, 0 skipped, 2.10s",
        "26/12/01 03:45:51 WARN DAGScheduler: Broadcasting large task binary with size 1.2 MiB",
        "2026-12-01 03:45:52,001 ERROR airflow_fanout.driver: run failed: sink 'gold', batch 4: boom",
        "Traceback (most recent call last):",
        'File "/x/runner.py", line 3, in _write_one',  # stripped by the provider
        "ValueError: boom",
        "/tmp/cp/_fanout/reports/20261201T034552Z.json",
    ]
    read = [reader.read(line) for line in lines]
    assert [(r.level, r.source) for r in read] == [
        (logging.INFO, "driver"),
        (logging.WARNING, "spark"),
        (logging.ERROR, "driver"),
        (logging.ERROR, "driver"),
        (logging.ERROR, "driver"),
        (logging.ERROR, "driver"),
        (logging.INFO, "output"),
    ]
    assert read[0].message.startswith("batch 3 done") and read[0].is_progress
    assert read[1].logger == "DAGScheduler" and not read[1].is_progress
    assert read[2].message == "run failed: sink 'gold', batch 4: boom"


def test_a_java_stack_trace_continues_a_spark_error() -> None:
    reader = LineReader()
    first = reader.read("26/12/01 03:45:51 ERROR Executor: Exception in task 0.0")
    trace = [
        reader.read(line)
        for line in ("java.lang.IllegalStateException: x", "at org.apache.spark.Foo.bar(Foo.scala:1)", "... 12 more")
    ]
    assert first.level == logging.ERROR
    assert {(t.level, t.source) for t in trace} == {(logging.ERROR, "spark")}
