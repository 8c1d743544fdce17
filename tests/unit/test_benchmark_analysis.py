"""The benchmark's own analysis code: the event-log timing (how long jobs, and Delta's state
reconstruction jobs, kept Spark busy) and the target lines of ``BENCHMARKS.md``. No Spark: the
event log here is written by hand in Spark's JSON-lines format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.fanout_jobs.eventlog import SNAPSHOT_JOB, busy_seconds, summarize_event_log
from benchmarks.report import fanout_targets


def test_busy_seconds_is_the_length_of_the_union_of_spans() -> None:
    assert busy_seconds([]) == 0.0
    assert busy_seconds([(0.0, 2.0), (1.0, 3.0), (5.0, 6.0)]) == 4.0  # [0, 3] and [5, 6]
    assert busy_seconds([(4.0, 5.0), (0.0, 10.0)]) == 10.0  # nested, out of order


def _job(job_id: int, description: str, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
    props = {"spark.job.description": description}
    return [
        {"Event": "SparkListenerJobStart", "Job ID": job_id, "Submission Time": start_ms, "Properties": props},
        {"Event": "SparkListenerJobEnd", "Job ID": job_id, "Completion Time": end_ms},
    ]


def test_event_log_summary_times_jobs_and_delta_snapshot_jobs(tmp_path: Path) -> None:
    events = [
        {"Event": "SparkListenerApplicationStart", "Timestamp": 100_000},
        *_job(0, f"Delta: sink a: {SNAPSHOT_JOB}: 3", 110_000, 112_000),
        *_job(1, f"Delta: sink b: {SNAPSHOT_JOB}: 3", 111_000, 113_500),
        *_job(2, "sink a", 113_000, 118_000),
        *_job(3, "sink b", 120_000, 121_000),
        {"Event": "SparkListenerApplicationEnd", "Timestamp": 125_000},
    ]
    log = tmp_path / "app-1"
    log.write_text("\n".join(json.dumps(e) for e in events) + "\n")

    summary = summarize_event_log(log)

    assert summary.jobs == 4
    assert summary.app_s == 25.0
    assert summary.first_job_s == 10.0
    assert summary.jobs_busy_s == 9.0  # 110..118 and 120..121
    assert (summary.snapshot_jobs, summary.snapshot_busy_s) == (2, 3.5)  # 110..113.5
    assert [j.start_s for j in summary.job_list] == [10.0, 11.0, 13.0, 20.0]
    assert "Delta state reconstruction (2 jobs) 3.5 s" in summary.timeline()


def _row(contender: str, seconds: float) -> dict[str, Any]:
    return {"wall_s": {"median": seconds, "min": seconds, "runs": [seconds]}, "contender": contender}


def test_targets_name_met_and_missed_from_the_medians() -> None:
    by = {(c, 8): _row(c, s) for c, s in [("driver", 33.0), ("hand_optimal", 30.0), ("sdp", 56.1)]}
    lines = fanout_targets(by, 8, "incremental")
    assert "driver within 1.10x of hand-optimal: met (1.100x)" in lines[0]
    assert "driver >= 1.6x faster than SDP on the incremental run: met (1.70x)" in lines[1]

    by[("driver", 8)] = _row("driver", 33.1)
    lines = fanout_targets(by, 8, "incremental")
    assert "missed (1.103x)" in lines[0]  # rounded it would read 1.10x: three decimals say why
    assert "SDP on the incremental run: met (1.69x)" in lines[1]


def test_sdp_target_stands_without_hand_optimal() -> None:
    """bench-quick measures hand-optimal on the first run only: the incremental table still
    states the SDP target, and says why the hand-optimal one is absent."""
    by = {(c, 8): _row(c, s) for c, s in [("driver", 30.0), ("sdp", 45.0)]}
    lines = fanout_targets(by, 8, "incremental")
    assert "hand-optimal not measured" in lines[0]
    assert "driver >= 1.6x faster than SDP on the incremental run: missed (1.50x)" in lines[1]
