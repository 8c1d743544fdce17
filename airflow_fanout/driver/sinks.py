"""One function per write mode of a sink that reads the source (views: ``driver.views``). Every
write carries the sink's Delta transaction id.

Appends and overwrites pass ``txnAppId``/``txnVersion`` as writer options. MERGE takes them from
the SQL confs ``spark.databricks.delta.write.txnAppId``/``txnVersion``, which are per SparkSession,
so each sink writes through a session of its own (``spark.newSession()``, same SparkContext)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from delta.tables import DeltaMergeBuilder
from pyspark.sql import Column, DataFrame, DataFrameWriter, SparkSession

from airflow_fanout.driver.cdc import (
    DELETE_FLAG,
    Tombstones,
    flag_deletes,
    latest_changes,
    scd2_rows,
    scd2_source,
    sequence_sql,
    without_stale,
)
from airflow_fanout.driver.tables import delta_table, merge_condition, read_table, save, txn_writer
from airflow_fanout.spec.model import SCD_START, Scalar, SinkSpec

TXN_APP_ID_CONF = "spark.databricks.delta.write.txnAppId"
TXN_VERSION_CONF = "spark.databricks.delta.write.txnVersion"


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
    table_exists: bool = True
    #: a CDC sink's tombstone writes carry this app id (with ``txn_version``)
    tombstone_app_id: str | None = None
    #: the table records its changes (views read from it)
    record_changes: bool = False
    #: persists a frame read more than once until the batch ends (the MERGE source: its key
    #: range narrows the MERGE's target scan, ``tables.merge_condition``)
    keep: Callable[[DataFrame], DataFrame] = lambda frame: frame


def write_sink(write: SinkWrite) -> None:
    """Write one sink in its mode."""
    sink = write.sink
    if sink.mode == "merge":
        write_merge(write)
    elif sink.mode == "overwrite" or write.replace_where is not None:
        write_overwrite(write)
    else:
        write_append(write)


def writer(write: SinkWrite, frame: DataFrame, mode: str) -> DataFrameWriter:
    """A writer with the sink's txn id, options, ``merge_schema`` and partitioning."""
    sink = write.sink
    out = txn_writer(frame, mode, write.txn_app_id, write.txn_version, record_changes=write.record_changes)
    out = out.options(**sink.options)
    if sink.merge_schema:
        out = out.option("mergeSchema", "true")
    if sink.partition_by:
        out = out.partitionBy(*sink.partition_by)
    return out


def write_append(write: SinkWrite) -> None:
    save(writer(write, write.rows, "append"), write.sink.ref)


def write_overwrite(write: SinkWrite) -> None:
    """Replace the rows matching ``replace_where`` (the slice) with this batch's rows, atomically."""
    predicate = write.replace_where
    assert predicate is not None, "overwrite needs a replace_where (validated in the spec)"
    save(writer(write, write.rows, "overwrite").option("replaceWhere", predicate), write.sink.ref)


def append_first_batch(write: SinkWrite, frame: DataFrame) -> None:
    """The first batch of a MERGE sink whose table does not exist yet: nothing can match, so the
    MERGE would only insert. A plain append (same txn id, partitioning, options) creates the
    table with the batch's rows in one commit, without a MERGE's join and source materializing."""
    write_append(replace(write, rows=frame))


def run_merge(session: SparkSession, txn_app_id: str, txn_version: int, builder: DeltaMergeBuilder) -> None:
    """Execute a MERGE with a txn id in the writing sink's own session."""
    conf = session.conf
    conf.set(TXN_APP_ID_CONF, txn_app_id)
    conf.set(TXN_VERSION_CONF, str(txn_version))
    try:
        builder.execute()
    finally:
        conf.unset(TXN_APP_ID_CONF)
        conf.unset(TXN_VERSION_CONF)


def write_merge(write: SinkWrite) -> None:
    """Upsert by keys; with ``sequence_by`` an older change never overwrites a newer one (nor
    resurrects a deleted key, with tombstones); with ``delete_when`` matching rows are deleted;
    with ``scd_type: 2`` every version is kept. Each batch is one MERGE (after its tombstones)."""
    sink, merge = write.sink, write.sink.merge
    assert merge is not None
    flagged = flag_deletes(write.rows, merge, write.params)
    tombstones = Tombstones.of(sink)
    if tombstones is not None:
        assert write.tombstone_app_id is not None
        tombstones.append(write.session, flagged, write.tombstone_app_id, write.txn_version)
    if merge.scd_type == 2:
        write_history(write, flagged, tombstones)
        return
    source = latest_changes(flagged, merge)
    if tombstones is not None:
        source = without_stale(source, tombstones.latest(write.session), merge)
    if merge.delete_when is None:
        source = source.drop(DELETE_FLAG)
    data_columns = [c for c in source.columns if c != DELETE_FLAG]
    if not write.table_exists:
        inserted = source.where(f"NOT `{DELETE_FLAG}`") if merge.delete_when else source
        append_first_batch(write, inserted.select(*data_columns))
        return
    target = delta_table(write.session, sink.ref)
    source = write.keep(source)
    condition = merge_condition(source, merge.keys)
    values: dict[str, str | Column] = {c: f"s.`{c}`" for c in data_columns}
    newer = (
        f"{sequence_sql(merge.sequence_by, 's')} > {sequence_sql(merge.sequence_by, 't')}"
        if merge.sequence_by
        else None
    )
    is_delete = f"s.`{DELETE_FLAG}`" if merge.delete_when else None
    builder = target.alias("t").merge(source.alias("s"), condition)
    if sink.merge_schema:
        write.session.conf.set("spark.databricks.delta.schema.autoMerge.enabled", "true")
    if merge.when_matched == "ignore":
        # Insert-only: Delta finds the new keys with an anti-join and rewrites no target file.
        run_merge(write.session, write.txn_app_id, write.txn_version, builder.whenNotMatchedInsert(values=values))
        return
    if is_delete:
        builder = builder.whenMatchedDelete(condition=f"{is_delete} AND ({newer})" if newer else is_delete)
    update_cond = " AND ".join(c for c in (f"NOT {is_delete}" if is_delete else None, newer) if c) or None
    builder = builder.whenMatchedUpdate(condition=update_cond, set=values)
    if is_delete:
        builder = builder.whenNotMatchedInsert(condition=f"NOT {is_delete}", values=values)
    else:
        builder = builder.whenNotMatchedInsert(values=values)
    run_merge(write.session, write.txn_app_id, write.txn_version, builder)


def write_history(write: SinkWrite, flagged: DataFrame, tombstones: Tombstones | None) -> None:
    """SCD type 2: rebuild the history of every key the batch touches (``cdc.scd2_rows``) and
    MERGE it on keys + ``__start_at``; versions the rebuilt history dropped are deleted."""
    merge = write.sink.merge
    assert merge is not None
    table = read_table(write.session, write.sink.ref) if write.table_exists else None
    deleted = tombstones.events(write.session) if tombstones is not None else None
    versions = scd2_rows(flagged, table, deleted, merge)
    if table is None:
        append_first_batch(write, versions)
        return
    source = write.keep(scd2_source(versions, table, merge))
    columns = [c for c in source.columns if c != DELETE_FLAG]
    values: dict[str, str | Column] = {c: f"s.`{c}`" for c in columns}
    builder = (
        delta_table(write.session, write.sink.ref)
        .alias("t")
        .merge(source.alias("s"), merge_condition(source, [*merge.keys, SCD_START]))
        .whenMatchedDelete(condition=f"s.`{DELETE_FLAG}`")
        .whenMatchedUpdate(set=values)
        .whenNotMatchedInsert(condition=f"NOT s.`{DELETE_FLAG}`", values=values)
    )
    run_merge(write.session, write.txn_app_id, write.txn_version, builder)
