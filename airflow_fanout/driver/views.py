"""Views: sinks kept equal to a query over their upstream sink's table (``FanOutSpec.view_kind``).

A view's txn version is the upstream table version it equals. Each write applies the upstream's
changes since then (``driver.changes``, ``plan.plan_range``):

- ``keyed`` (a merge sink from a merge sink): for each key the upstream changed, its latest
  state: upserted when it passes the view's where/expectations, deleted otherwise (a row that
  moved out of the view, or was deleted upstream). A stale change cannot come back: the feed is
  applied in commit order and the upstream table only holds its latest version of a key.
- ``changes`` (an append sink from a merge sink): every change row appended, with
  ``_change_type``, ``_commit_version`` and ``_commit_timestamp``: an audit log, not a view of
  the current rows.
- ``aggregate``: ``driver.aggregates``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from airflow_fanout.driver.aggregates import AggregateWrite, prunable_columns, write_aggregate
from airflow_fanout.driver.changes import (
    CHANGE_TYPE,
    COMMIT_VERSION,
    FEED_COLUMNS,
    SIGN,
    as_inserts,
    read_feed,
    read_version,
    without_feed_columns,
)
from airflow_fanout.driver.plan import ChangeRange
from airflow_fanout.driver.quality import flag_rows, passed_rows
from airflow_fanout.driver.sinks import run_merge
from airflow_fanout.driver.tables import delta_table, merge_condition, replace_whole, save, txn_writer
from airflow_fanout.driver.transforms import expr, null_safe_join_condition, sink_rows
from airflow_fanout.exceptions import RunError
from airflow_fanout.spec.measures import MeasurePlan
from airflow_fanout.spec.model import Scalar, SinkSpec, ViewKind

_REMOVE = "__fanout_remove"


@dataclass(frozen=True)
class ViewWrite:
    """One write of a view: bring ``sink`` from its version to ``range.last`` of ``upstream``."""

    sink: SinkSpec
    kind: ViewKind
    session: SparkSession
    upstream: SinkSpec
    #: the columns that identify a row of the view (keyed views: the upstream's keys)
    keys: tuple[str, ...]
    range: ChangeRange
    params: Mapping[str, Scalar]
    txn_app_id: str
    table_exists: bool
    #: the upstream's rows of this batch (``range.source == "rows"``)
    batch_rows: DataFrame | None = None
    #: the view's table records its changes (another view reads from it)
    record_changes: bool = False
    #: persists a frame read more than once until the batch ends
    keep: Callable[[DataFrame], DataFrame] = lambda frame: frame

    @property
    def txn_version(self) -> int:
        return self.range.last


def upstream_changes(write: ViewWrite) -> DataFrame:
    """The upstream's changes over the write's range, signed (``SIGN``), with the feed columns."""
    rng = write.range
    if rng.source == "rows":
        assert write.batch_rows is not None
        return as_inserts(write.batch_rows, rng.last)
    if rng.source == "feed":
        return read_feed(write.session, write.upstream.ref, rng.first, rng.last)
    return as_inserts(read_version(write.session, write.upstream.ref, rng.last), rng.last)


def _own_transforms(sink: SinkSpec) -> SinkSpec:
    """The view's row transforms (where/columns/select); its aggregate and expectations apart."""
    return replace(sink, dedupe=None, aggregate=None, expect=())


def view_rows(write: ViewWrite, changes: DataFrame) -> DataFrame:
    """What the view's expectations check: for a keyed view, the latest image of each changed key
    that is still in the upstream table; for a change log, every change row; for an aggregate,
    every signed change row. All through the view's where/columns/select."""
    sink = _own_transforms(write.sink)
    if write.kind == "keyed":
        latest = latest_per_key(changes, write.keys)
        return sink_rows(without_feed_columns(latest.where(F.col(SIGN) > 0)), sink, write.params)
    if write.kind == "changes":
        return sink_rows(changes.drop(SIGN), sink, write.params)
    return sink_rows(changes.drop(*FEED_COLUMNS), sink, write.params, keep=(SIGN,))


def latest_per_key(changes: DataFrame, keys: tuple[str, ...]) -> DataFrame:
    """Each changed key's last change in the range: later commits first; within a commit a
    row that entered beats one that left (an overwrite deletes and re-inserts a key)."""
    images = changes.where(F.col(CHANGE_TYPE) != "update_preimage")
    order = Window.partitionBy(*keys).orderBy(F.col(COMMIT_VERSION).desc(), F.col(SIGN).desc())
    return (
        images.withColumn("__fanout_rank", F.row_number().over(order)).where("__fanout_rank = 1").drop("__fanout_rank")
    )


def write_view(
    write: ViewWrite,
    changes: DataFrame,
    flagged: DataFrame | None,
    plan: MeasurePlan | None = None,
) -> None:
    """Write the view from its upstream ``changes`` and its rows, ``flagged`` by its expectations
    (None without expectations)."""
    rows = view_rows(write, changes) if flagged is None else passed_rows(flagged)
    if write.kind == "keyed":
        _write_keyed(write, changes, rows)
    elif write.kind == "changes":
        _append(write, rows)
    else:
        assert plan is not None
        upstream_columns = read_version(write.session, write.upstream.ref, write.range.last).columns
        write_aggregate(
            AggregateWrite(
                sink=write.sink,
                session=write.session,
                changes=rows,
                upstream_rows=_upstream_rows(write),
                prunable=prunable_columns(write.sink, upstream_columns),
                plan=plan,
                params=write.params,
                txn_app_id=write.txn_app_id,
                txn_version=write.txn_version,
                table_exists=write.table_exists,
                rebuild=write.range.source == "rebuild",
                record_changes=write.record_changes,
                keep=write.keep,
            )
        )


def _upstream_rows(write: ViewWrite) -> Callable[[Column | None], DataFrame]:
    """The upstream table at the view's version through the view's transforms and expectations
    (rows failing them are not in the view; they are dead-lettered when they arrive)."""
    sink = write.sink

    def read(predicate: Column | None) -> DataFrame:
        table = read_version(write.session, write.upstream.ref, write.range.last)
        if predicate is not None:
            table = table.where(predicate)
        rows = sink_rows(table, _own_transforms(sink), write.params)
        return passed_rows(flag_rows(rows, sink.expect, write.params)) if sink.expect else rows

    return read


def _append(write: ViewWrite, rows: DataFrame) -> None:
    if write.range.source == "rebuild" and write.table_exists:
        raise RunError(
            f"the change log cannot continue: {write.upstream.name}'s changes since its last version are no longer "
            "recorded (change data feed turned on later, or vacuumed); drop the table to restart it from a snapshot",
            sink=write.sink.name,
        )
    out = txn_writer(rows, "append", write.txn_app_id, write.txn_version, record_changes=write.record_changes)
    out = out.options(**write.sink.options)
    if write.sink.merge_schema:
        out = out.option("mergeSchema", "true")
    if write.sink.partition_by:
        out = out.partitionBy(*write.sink.partition_by)
    save(out, write.sink.ref)


def _write_keyed(write: ViewWrite, changes: DataFrame, rows: DataFrame) -> None:
    """Upsert the keys whose latest image passes the view, delete the other changed keys."""
    missing = [k for k in write.keys if k not in rows.columns]
    if missing:
        raise RunError(
            f"a view of {write.upstream.name!r} must keep its key column(s) {', '.join(missing)} (add them to select)",
            sink=write.sink.name,
        )
    sink = write.sink
    if write.range.source == "rebuild" or not write.table_exists:
        replace_whole(
            rows,
            sink,
            write.txn_app_id,
            write.txn_version,
            exists=write.table_exists,
            record_changes=write.record_changes,
        )
        return
    keys = list(write.keys)
    changed = latest_per_key(changes, write.keys).select(*keys)
    gone = changed.alias("c").join(rows.alias("r"), expr(null_safe_join_condition("c", "r", keys)), "left_anti")
    source = rows.withColumn(_REMOVE, F.lit(False)).unionByName(
        gone.withColumn(_REMOVE, F.lit(True)), allowMissingColumns=True
    )
    source = write.keep(source)
    values: dict[str, str | Column] = {c: f"s.`{c}`" for c in rows.columns}
    if sink.merge_schema:
        write.session.conf.set("spark.databricks.delta.schema.autoMerge.enabled", "true")
    builder = (
        delta_table(write.session, sink.ref)
        .alias("t")
        .merge(source.alias("s"), merge_condition(source, keys))
        .whenMatchedDelete(condition=f"s.`{_REMOVE}`")
        .whenMatchedUpdate(set=values)
        .whenNotMatchedInsert(condition=f"NOT s.`{_REMOVE}`", values=values)
    )
    run_merge(write.session, write.txn_app_id, write.txn_version, builder)
