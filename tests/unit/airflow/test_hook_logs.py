"""What the hook makes of a driver run's output: each line at its own level, the spark-submit
command only at DEBUG, and one clear line on why a run ended without its report."""

from __future__ import annotations

import signal
from typing import Any

from airflow_fanout.hooks.fanout import DriverLogRelay, describe_exit


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __getattr__(self, level: str) -> Any:
        return lambda msg, *args, **kwargs: self.calls.append((level, msg % args if args else msg))


def test_each_line_is_logged_at_its_own_level() -> None:
    recorder = Recorder()
    relay = DriverLogRelay(recorder)
    relay.info("Spark-Submit cmd: %s", "spark-submit --master local[2] --conf spark.jars=/a.jar,/b.jar ...")
    relay.info("26/12/01 03:45:49 INFO SparkContext: Running Spark version 4.2.0")
    relay.info("2026-12-01 03:45:50,123 WARNING airflow_fanout.driver: run lock x: its owner is gone; taking it over")
    relay.info("2026-12-01 03:45:52,001 ERROR airflow_fanout.driver: run failed: sink 'gold', batch 4: boom")
    relay.info("Traceback (most recent call last):")
    relay.info("/tmp/cp/_fanout/reports/r.json")
    assert recorder.calls == [
        ("debug", "Spark-Submit cmd: spark-submit --master local[2] --conf spark.jars=/a.jar,/b.jar ..."),
        ("info", "spark SparkContext: Running Spark version 4.2.0"),
        ("warning", "run lock x: its owner is gone; taking it over"),
        ("error", "run failed: sink 'gold', batch 4: boom"),
        ("error", "Traceback (most recent call last):"),
        ("info", "/tmp/cp/_fanout/reports/r.json"),
    ]
    assert relay.last_error == "run failed: sink 'gold', batch 4: boom"


def test_why_a_run_ended_in_one_line() -> None:
    stopped = describe_exit(-signal.SIGKILL, "Airflow stopped the task (marked failed or cleared, or timed out)", None)
    assert stopped == "spark-submit stopped: Airflow stopped the task (marked failed or cleared, or timed out)"
    assert "out-of-memory killer" in describe_exit(-signal.SIGKILL, None, None)
    assert "out-of-memory killer" in describe_exit(137, None, None)
    assert describe_exit(-signal.SIGTERM, None, None) == "spark-submit was stopped by signal SIGTERM (exit code -15)"
    assert describe_exit(1, None, "spark SparkContext: boom") == (
        "spark-submit exited with code 1 before the driver wrote its report: spark SparkContext: boom"
    )
    for text in (stopped, describe_exit(1, None, None)):
        assert "--conf" not in text and "\n" not in text
