"""One function per write mode. Every write carries the sink's Delta transaction id.

Appends and overwrites pass ``txnAppId``/``txnVersion`` as writer options. MERGE takes them from
the SQL confs ``spark.databricks.delta.write.txnAppId``/``txnVersion``, which are per SparkSession,
so each sink writes through a session of its own (``spark.newSession()``, same SparkContext)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from delta.tables import DeltaMergeBuilder
from pyspark.sql import Column, DataFrame, DataFrameWriter, SparkSession, Window
from pyspark.sql import functions as F

from airflow_fanout.driver.tables import delta_table, read_table, save, txn_writer
from airflow_fanout.driver.transforms import (
    aggregate_groups,
    drop_params,
    expr,
    group_columns,
    null_safe_join_condition,
    sink_rows,
    touched_groups,
    with_params,
)
from airflow_fanout.spec.model import WINDOW_END, WINDOW_START, AggregateSpec, Scalar, SinkSpec

TXN_APP_ID_CONF = "spark.databricks.delta.write.txnAppId"
TXN_VERSION_CONF = "spark.databricks.delta.write.txnVersion"
_DELETE_FLAG = "__fanout_delete"


@dataclass(frozen=True)
class SinkWrite:
    """Everything one write of one sink needs."""

    sink: SinkSpec
    session: SparkSession
    rows: DataFrame
    txn_app_id: str
    txn_version: int
    params: Mapping[str, Scalar]
    replace_where: str | None = None
    upstream: SinkSpec | None = None
    table_exists: bool = True


def write_sink(write: SinkWrite) -> None:
    """Write one sink in its mode."""
    sink = write.sink
    if sink.aggregate is not None:
        write_aggregate(write)
    elif sink.mode == "merge":
        write_merge(write)
    elif sink.mode == "overwrite" or write.replace_where is not None:
        write_overwrite(write)
    else:
        write_append(write)


def _writer(write: SinkWrite, frame: DataFrame, mode: str) -> DataFrameWriter:
    sink = write.sink
    writer = txn_writer(frame, mode, write.txn_app_id, write.txn_version).options(**sink.options)
    if sink.merge_schema:
        writer = writer.option("mergeSchema", "true")
    if sink.partition_by:
        writer = writer.partitionBy(*sink.partition_by)
    return writer


def write_append(write: SinkWrite) -> None:
    save(_writer(write, write.rows, "append"), write.sink.ref)


def write_overwrite(write: SinkWrite) -> None:
    """Replace the rows matching ``replace_where`` (the slice) with this batch's rows, atomically."""
    predicate = write.replace_where
    assert predicate is not None, "overwrite needs a replace_where (validated in the spec)"
    writer = _writer(write, write.rows, "overwrite").option("replaceWhere", predicate)
    save(writer, write.sink.ref)


def _append_first_batch(write: SinkWrite, frame: DataFrame) -> None:
    """The first batch of a MERGE sink whose table does not exist yet: nothing can match, so the
    MERGE would only insert. A plain append (same txn id, partitioning, options) creates the
    table with the batch's rows in one commit, without a MERGE's join and source materializing."""
    write_append(replace(write, rows=frame))


def _run_merge(write: SinkWrite, builder: DeltaMergeBuilder) -> None:
    """Execute a MERGE with this sink's txn id in the sink's own session."""
    conf = write.session.conf
    conf.set(TXN_APP_ID_CONF, write.txn_app_id)
    conf.set(TXN_VERSION_CONF, str(write.txn_version))
    try:
        builder.execute()
    finally:
        conf.unset(TXN_APP_ID_CONF)
        conf.unset(TXN_VERSION_CONF)


def merge_source(rows: DataFrame, sink: SinkSpec, params: Mapping[str, Scalar]) -> DataFrame:
    """The MERGE source: one row per key (the latest by ``sequence_by``), with a delete flag.

    Several changes to one key in one batch must not fail the MERGE, so they are reduced to
    the latest first; ``delete_when`` is evaluated once here, not inside the MERGE."""
    merge = sink.merge
    assert merge is not None
    out = rows
    if merge.sequence_by is not None:
        latest = F.row_number().over(Window.partitionBy(*merge.keys).orderBy(F.col(merge.sequence_by).desc()))
        out = out.withColumn("__fanout_rank", latest).where("__fanout_rank = 1").drop("__fanout_rank")
    if merge.delete_when is not None:
        flagged = with_params(out, [merge.delete_when], params)
        out = drop_params(flagged.withColumn(_DELETE_FLAG, F.coalesce(expr(merge.delete_when), F.lit(False))))
    return out


def write_merge(write: SinkWrite) -> None:
    """Upsert by keys; with ``sequence_by`` an older change never overwrites a newer one, with
    ``delete_when`` matching rows are deleted. Inserts, updates and deletes are one MERGE."""
    sink, merge = write.sink, write.sink.merge
    assert merge is not None
    source = merge_source(write.rows, sink, write.params)
    data_columns = [c for c in source.columns if c != _DELETE_FLAG]
    if not write.table_exists:
        inserted = source.where(f"NOT `{_DELETE_FLAG}`") if merge.delete_when else source
        _append_first_batch(write, inserted.select(*data_columns))
        return
    target = delta_table(write.session, sink.ref)
    condition = null_safe_join_condition("t", "s", merge.keys)
    values: dict[str, str | Column] = {c: f"s.`{c}`" for c in data_columns}
    newer = f"s.`{merge.sequence_by}` > t.`{merge.sequence_by}`" if merge.sequence_by else None
    is_delete = f"s.`{_DELETE_FLAG}`" if merge.delete_when else None
    builder = target.alias("t").merge(source.alias("s"), condition)
    if sink.merge_schema:
        write.session.conf.set("spark.databricks.delta.schema.autoMerge.enabled", "true")
    if merge.when_matched == "ignore":
        # Insert-only: Delta finds the new keys with an anti-join and rewrites no target file.
        _run_merge(write, builder.whenNotMatchedInsert(values=values))
        return
    if is_delete:
        delete_cond = f"{is_delete} AND ({newer})" if newer else is_delete
        builder = builder.whenMatchedDelete(condition=delete_cond)
    update_cond = " AND ".join(c for c in (f"NOT {is_delete}" if is_delete else None, newer) if c) or None
    if update_cond:
        builder = builder.whenMatchedUpdate(condition=update_cond, set=values)
    else:
        builder = builder.whenMatchedUpdate(set=values)
    if is_delete:
        builder = builder.whenNotMatchedInsert(condition=f"NOT {is_delete}", values=values)
    else:
        builder = builder.whenNotMatchedInsert(values=values)
    _run_merge(write, builder)


def write_aggregate(write: SinkWrite) -> None:
    """Recompute every group this batch touches from the upstream table, then MERGE the groups.

    A window that spans batches (or gets a late event) is recomputed over all upstream rows, so
    the table always equals the aggregate of everything written upstream, whatever the batches.
    Groups of a touched key that no longer exist (a session merged into a longer one) are
    deleted in the same MERGE, so the table never keeps stale groups for touched keys."""
    sink, aggregate, upstream = write.sink, write.sink.aggregate, write.upstream
    assert aggregate is not None and upstream is not None
    touch = aggregate.touch_columns
    touched = F.broadcast(touched_groups(write.rows, aggregate))
    upstream_rows = sink_rows(read_table(write.session, upstream.ref), _without_upstream(sink), write.params)
    keyed = group_columns(upstream_rows, aggregate)
    affected = keyed.alias("u").join(touched.alias("g"), expr(null_safe_join_condition("u", "g", touch)), "left_semi")
    if aggregate.window is not None and not aggregate.window.is_session:
        affected = affected.drop(WINDOW_START, WINDOW_END)
    groups = aggregate_groups(affected, aggregate, write.params)
    if not write.table_exists:
        _append_first_batch(write, groups)
        return
    columns = groups.columns
    source = groups.withColumn(_DELETE_FLAG, F.lit(False))
    if may_leave_stale_groups(aggregate, upstream):
        existing = read_table(write.session, sink.ref).select(*columns)
        in_touched = existing.alias("e").join(
            touched.alias("g"), expr(null_safe_join_condition("e", "g", touch)), "left_semi"
        )
        stale = in_touched.alias("e").join(
            groups.alias("n"), expr(null_safe_join_condition("e", "n", aggregate.group_columns)), "left_anti"
        )
        source = source.unionByName(stale.withColumn(_DELETE_FLAG, F.lit(True)))
    values: dict[str, str | Column] = {c: f"s.`{c}`" for c in columns}
    builder = (
        delta_table(write.session, sink.ref)
        .alias("t")
        .merge(source.alias("s"), null_safe_join_condition("t", "s", aggregate.group_columns))
        .whenMatchedDelete(condition=f"s.`{_DELETE_FLAG}`")
        .whenMatchedUpdate(set=values)
        .whenNotMatchedInsert(condition=f"NOT s.`{_DELETE_FLAG}`", values=values)
    )
    _run_merge(write, builder)


def may_leave_stale_groups(aggregate: AggregateSpec, upstream: SinkSpec) -> bool:
    """Whether a recompute can miss a group the table holds for a touched key, which must then
    be deleted (a scan of the aggregate table and an anti-join).

    With a tumbling window (or none), a touched key *is* a group, and it is touched because this
    batch's rows fall in it. Those rows are in the upstream table whenever the upstream wrote
    them as they are (append or overwrite), so the recompute finds the group again: nothing to
    delete. Sessions move their bounds, and an upstream MERGE may have dropped, updated or
    deleted the rows instead: only then is the scan needed."""
    if aggregate.window is not None and aggregate.window.is_session:
        return True
    return upstream.mode == "merge"


def _without_upstream(sink: SinkSpec) -> SinkSpec:
    """The aggregate sink's own row transforms (where/columns/select), applied to upstream rows."""
    return replace(sink, dedupe=None, aggregate=None)
