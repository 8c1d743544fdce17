"""Materialized views stay correct across batches: tumbling windows (5 minutes, hourly) with
count, sum, min, max, avg and count distinct, late events included; session windows whose
sessions merge across batches (the stale shorter session is deleted)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import functions as F

from airflow_fanout.driver.runner import FanOutRun
from airflow_fanout.sample_data import generate_events, write_landing_batch
from airflow_fanout.spec import parse_spec
from tests.driver.helpers import json_stream_spec

pytestmark = pytest.mark.spark
MEASURES = {
    "events": "count(*)",
    "revenue": "round(sum(amount), 4)",
    "smallest": "min(amount)",
    "largest": "max(amount)",
    "average": "round(avg(amount), 4)",
    "buyers": "count(DISTINCT user_id)",
}


def views_spec(root: Path) -> dict[str, Any]:
    def view(name: str, window: dict[str, str], group_by: list[str], measures: dict[str, str]) -> dict[str, Any]:
        return {
            "name": name,
            "from": "silver",
            "path": str(root / name),
            "mode": "merge",
            "aggregate": {"window": {"column": "event_time", **window}, "group_by": group_by, "measures": measures},
        }

    sinks: list[dict[str, Any]] = [
        {
            "name": "silver",
            "path": str(root / "silver"),
            "mode": "append",
            "where": "event_id IS NOT NULL AND amount >= 0",
        },
        view("by_5min", {"duration": "5 minutes"}, ["event_type"], MEASURES),
        view("hourly", {"duration": "1 hour"}, [], MEASURES),
        view("sessions", {"gap": "10 minutes"}, ["user_id"], {"events": "count(*)"}),
    ]
    return json_stream_spec(root, "views", sinks)


def expected(
    spark: Any, silver: str, window: Any, group_by: list[str], measures: dict[str, str]
) -> set[tuple[Any, ...]]:
    frame = spark.read.format("delta").load(silver)
    out = frame.groupBy(window.alias("w"), *group_by).agg(*[F.expr(m).alias(n) for n, m in measures.items()])
    out = out.select(F.col("w.start").alias("window_start"), F.col("w.end").alias("window_end"), *group_by, *measures)
    return {tuple(r) for r in out.collect()}


def actual(spark: Any, path: str, group_by: list[str], measures: dict[str, str]) -> set[tuple[Any, ...]]:
    frame = spark.read.format("delta").load(path).select("window_start", "window_end", *group_by, *measures)
    return {tuple(r) for r in frame.collect()}


def test_tumbling_views_equal_the_aggregate_of_everything_upstream(spark: Any, tmp_path: Path) -> None:
    for b in range(3):  # batches 1 and 2 carry late events for windows batch 0 already wrote
        write_landing_batch(tmp_path / "landing", b, generate_events(b, 200))
    FanOutRun(spark, parse_spec(views_spec(tmp_path))).run()
    silver = str(tmp_path / "silver")
    for name, duration, group_by in (("by_5min", "5 minutes", ["event_type"]), ("hourly", "1 hour", [])):
        want = expected(spark, silver, F.window("event_time", duration), group_by, MEASURES)
        assert actual(spark, str(tmp_path / name), group_by, MEASURES) == want, name
    want = expected(spark, silver, F.session_window("event_time", "10 minutes"), ["user_id"], {"events": "count(*)"})
    assert actual(spark, str(tmp_path / "sessions"), ["user_id"], {"events": "count(*)"}) == want


def test_sessions_merge_across_batches(spark: Any, tmp_path: Path) -> None:
    def land(batch: int, events: list[tuple[str, str]]) -> None:
        folder = tmp_path / "landing"
        folder.mkdir(exist_ok=True)
        lines = [
            json.dumps(
                {
                    "event_id": f"{batch}-{i}",
                    "user_id": user,
                    "event_type": "click",
                    "amount": 1.0,
                    "event_time": f"2026-11-01T{hhmm}:00Z",
                    "event_date": "2026-11-01",
                }
            )
            for i, (user, hhmm) in enumerate(events)
        ]
        path = folder / f"batch-{batch}.json"
        path.write_text("\n".join(lines) + "\n")
        os.utime(path, (1_700_000_000 + batch, 1_700_000_000 + batch))

    land(0, [("u1", "00:00"), ("u1", "00:05")])
    land(1, [("u1", "00:12"), ("u2", "00:00")])
    land(2, [("u1", "00:40")])
    FanOutRun(spark, parse_spec(views_spec(tmp_path))).run()
    sessions = spark.read.format("delta").load(str(tmp_path / "sessions"))
    got = sorted(
        (r["user_id"], r["window_start"].strftime("%H:%M"), r["window_end"].strftime("%H:%M"), r["events"])
        for r in sessions.collect()
    )
    # u1's first session (00:00-00:15 after batch 0) grew to 00:00-00:22 in batch 1: no stale row.
    assert got == [("u1", "00:00", "00:22", 3), ("u1", "00:40", "00:50", 1), ("u2", "00:00", "00:10", 1)]
