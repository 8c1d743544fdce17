"""Progress kept outside the sink tables: the stream checkpoint and the slice run version.

A checkpoint that is behind what the tables recorded (deleted or reset) would make every write
a silent no-op, because Delta skips txn versions it has seen: refuse to start instead."""

from __future__ import annotations

from pyspark.sql import SparkSession

from airflow_fanout.driver.delta_log import TableState
from airflow_fanout.exceptions import CheckpointResetError
from airflow_fanout.spec.model import FanOutSpec
from airflow_fanout.spec.naming import CommitFinder, sink_app_id, view_target


def latest_planned_batch(spark: SparkSession, checkpoint: str) -> int:
    """The highest batch id in ``<checkpoint>/offsets`` (-1 for a new checkpoint)."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    offsets = jvm.org.apache.hadoop.fs.Path(checkpoint.rstrip("/") + "/offsets")
    fs = offsets.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(offsets):
        return -1
    ids = [int(s.getPath().getName()) for s in fs.listStatus(offsets) if s.getPath().getName().isdigit()]
    return max(ids, default=-1)


def refuse_reset(spark: SparkSession, spec: FanOutSpec, states: dict[str, TableState]) -> None:
    """Fail when a sink recorded a txn version above every batch the checkpoint ever planned."""
    planned = latest_planned_batch(spark, spec.run.checkpoint)
    ahead = []
    for sink in spec.sinks:
        if spec.view_kind(sink) is not None:
            continue  # a view records its upstream's versions, not batch ids
        recorded = states[sink.name].txn_version(sink_app_id(spec, sink))
        if recorded is not None and recorded > planned:
            ahead.append(f"{sink.name} (txn {sink_app_id(spec, sink)} at {recorded})")
    if ahead:
        raise CheckpointResetError(
            f"checkpoint {spec.run.checkpoint} was deleted or reset: it has planned batches up to "
            f"{planned}, but {', '.join(ahead)} already recorded later batches, so every write "
            "would be skipped as a replay. Restore the checkpoint; or, to re-read the source from "
            "the start into these tables, use a new app_id (the tables will receive the data again) "
            "or drop the tables; see docs/guarantees.md."
        )


def slice_run_version(spec: FanOutSpec, states: dict[str, TableState], first_commit: CommitFinder | None = None) -> int:
    """The txn version of this slice run.

    If every sink recorded the same version V (and every view holds that run's commits of its
    upstream), the last run completed: this is a new run, V+1, which replaces the slice. If some
    sinks are behind the highest recorded V, the last run failed part way: this run retries V and
    the sinks already at V are skipped. ``first_commit`` finds the commit of a run in a table's
    log (``DeltaLogReader.first_commit``); without it views are not checked."""
    assert spec.run.slice is not None
    if spec.run.slice.run_version is not None:
        return spec.run.slice.run_version
    # Views record their upstream's versions, not run versions (and catch up in any run).
    recorded = [states[s.name].txn_version(sink_app_id(spec, s)) for s in spec.sinks if spec.view_kind(s) is None]
    known = [v for v in recorded if v is not None]
    if not known:
        return 0
    highest = max(known)
    if len(known) == len(recorded) and min(known) == highest:
        views = [s for s in spec.sinks if spec.view_kind(s) is not None] if first_commit is not None else []
        for view in views:
            assert first_commit is not None
            target = view_target(spec, view, highest, first_commit)
            at = states[view.name].txn_version(sink_app_id(spec, view))
            if target is not None and (at is None or at < target):
                return highest  # the last run's views did not catch up: retry it
        return highest + 1
    return highest
