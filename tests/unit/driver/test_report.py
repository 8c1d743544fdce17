"""A run's report over its attempts: every batch any attempt committed, counted once, marked with
the attempt that committed it; and what goes to XCom."""

from __future__ import annotations

import json
from pathlib import Path

from airflow_fanout.driver.report import BatchReport, RunReport, SinkResult, merge_attempts


def written(sink: str, batch: int, rows: int) -> SinkResult:
    return SinkResult(
        sink, f"/lake/{sink}", f"app.{sink}", batch, "written", batch, rows, 1.0, "WRITE", {"numOutputRows": rows}
    )


def skipped(sink: str, batch: int, committed_in: int | None = None, rows: int = 0) -> SinkResult:
    result = SinkResult(
        sink, f"/lake/{sink}", f"app.{sink}", batch, "skipped", batch, rows, 0.0, committed_in=committed_in
    )
    if committed_in is not None:
        result.operation, result.metrics = "WRITE", {"numOutputRows": rows}
    return result


def test_a_retry_reports_what_the_killed_attempt_committed(tmp_path: Path) -> None:
    # Attempt 1 committed batches 0 and 1 (its report says so) and, in batch 2, bronze only,
    # then was killed. Attempt 2 replays batch 2 (bronze skipped: committed in version 2) and
    # runs batch 3.
    first = RunReport("app", "stream", None, "t0", status="running")
    first.batches = [BatchReport(b, b, [written("bronze", b, 500), written("silver", b, 450)]) for b in (0, 1)]
    second = RunReport("app", "stream", None, "t1", "t2", "succeeded")
    second.batches = [
        BatchReport(2, 2, [skipped("bronze", 2, committed_in=2, rows=500), written("silver", 2, 450)]),
        BatchReport(3, 3, [written("bronze", 3, 500), written("silver", 3, 450)]),
    ]
    # the reports go through JSON on their way from the driver to the operator
    loaded = [RunReport.from_dict(json.loads(json.dumps(r.to_dict()))) for r in (first, second)]
    merged = merge_attempts(loaded)
    assert [b.batch_id for b in merged.batches] == [0, 1, 2, 3]
    assert merged.status == "succeeded" and merged.started_at == "t0"
    totals = merged.sink_totals()
    assert totals["bronze"]["rows_written"] == 2000 and totals["bronze"]["batches_written"] == 4
    assert totals["silver"]["rows_written"] == 1800
    by_attempt = {(b.batch_id, s.sink): s.committed_by_attempt for b in merged.batches for s in b.sinks}
    assert by_attempt == {
        (0, "bronze"): 1,
        (0, "silver"): 1,
        (1, "bronze"): 1,
        (1, "silver"): 1,
        (2, "bronze"): 1,  # skipped by attempt 2: its commit (version 2) was attempt 1's
        (2, "silver"): None,
        (3, "bronze"): None,
        (3, "silver"): None,
    }
    # a single run's report does not count what an earlier run committed
    assert second.sink_totals()["bronze"]["rows_written"] == 500
    summary = merged.summary("/cp/_fanout/reports/run.json")
    assert summary["batch_ids"] == [0, 1, 2, 3] and summary["report"] == "/cp/_fanout/reports/run.json"
    assert summary["batches"] == 4  # a count: the per-batch detail stays in the report file
    assert len(json.dumps(summary)) < 2000  # small, whatever the number of batches
