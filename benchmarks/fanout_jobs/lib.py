"""Building blocks of the hand-written contenders (``k_streams``, ``tutorial``, ``hand_optimal``):
the source stream, and one function per kind of write. Runs inside spark-submit.

Every function takes the workload's :class:`~benchmarks.fanout_workload.SinkDef` /
``AggregateDef`` so the contenders write exactly the tables the driver writes (same columns,
same rows), only in a different way. ``txn`` is ``(app_id, version)`` for an idempotent write, or
None for a write without one (the tutorial's style)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from delta.tables import DeltaMergeBuilder, DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from benchmarks.fanout_workload import SCHEMA_DDL, AggregateDef, SinkDef, sinks, table_path

Txn = tuple[str, int] | None
TXN_APP_ID_CONF = "spark.databricks.delta.write.txnAppId"
TXN_VERSION_CONF = "spark.databricks.delta.write.txnVersion"
WINDOW_START, WINDOW_END = "window_start", "window_end"


@dataclass(frozen=True)
class JobArgs:
    """What every contender script is told: where to read, write and checkpoint, and K."""

    landing: str
    lake: str
    checkpoint: str
    k: int
    max_parallel: int

    @property
    def sinks(self) -> list[SinkDef]:
        return sinks(self.k)

    def path(self, name: str) -> str:
        return table_path(self.lake, name)


def parse_args(description: str) -> JobArgs:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--landing", required=True)
    parser.add_argument("--lake", required=True)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--k", type=int, required=True)
    parser.add_argument("--max-parallel", type=int, default=4)
    ns = parser.parse_args()
    return JobArgs(ns.landing, ns.lake, ns.checkpoint, ns.k, ns.max_parallel)


def session(name: str) -> SparkSession:
    """The session spark-submit configured (Delta, shuffle partitions, event log), quiet like
    the driver's (Spark's INFO lines cost time too)."""
    spark = SparkSession.builder.appName(name).getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("FANOUT_SPARK_LOG_LEVEL", "WARN"))
    return spark


def read_source(spark: SparkSession, landing: str) -> DataFrame:
    """The landing folder as a JSON stream with the workload's schema."""
    return spark.readStream.schema(SCHEMA_DDL).format("json").load(landing)


def run_available_now(spark: SparkSession, args: JobArgs, write_batch: Callable[[DataFrame, int], None]) -> None:
    """One ``foreachBatch`` stream over the landing folder, run to the end (``availableNow``),
    then the session stopped: the shape of every single-query contender."""
    query = (
        read_source(spark, args.landing)
        .writeStream.foreachBatch(write_batch)
        .option("checkpointLocation", args.checkpoint)
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    spark.stop()


def sink_input(batch: DataFrame, sink: SinkDef) -> DataFrame:
    """The source rows a sink takes (its route filter)."""
    return batch.where(sink.where) if sink.where else batch


def table_exists(spark: SparkSession, path: str) -> bool:
    return bool(DeltaTable.isDeltaTable(spark, path))


def append(frame: DataFrame, path: str, txn: Txn) -> None:
    """Plain Delta append; with ``txn``, Delta skips it if that version is already recorded."""
    writer = frame.write.format("delta").mode("append")
    if txn is not None:
        writer = writer.option("txnAppId", txn[0]).option("txnVersion", str(txn[1]))
    writer.save(path)


def run_merge(spark: SparkSession, builder: DeltaMergeBuilder, txn: Txn) -> None:
    """Execute a MERGE builder; its txn id can only come from session SQL confs (Delta has no
    MERGE option for it), so ``spark`` must be a session no other thread writes through."""
    conf = spark.conf
    if txn is not None:
        conf.set(TXN_APP_ID_CONF, txn[0])
        conf.set(TXN_VERSION_CONF, str(txn[1]))
    try:
        builder.execute()
    finally:
        if txn is not None:
            conf.unset(TXN_APP_ID_CONF)
            conf.unset(TXN_VERSION_CONF)


def _on(keys: tuple[str, ...] | list[str]) -> str:
    return " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)


def merge_new_keys(spark: SparkSession, rows: DataFrame, path: str, sink: SinkDef, txn: Txn, *, exists: bool) -> None:
    """Dedupe on the keys within the batch, insert the keys the table lacks. A missing table is
    created by the first batch's append (nothing to match yet)."""
    deduped = rows.dropDuplicates(list(sink.keys))
    if not exists:
        append(deduped, path, txn)
        return
    builder = (
        DeltaTable.forPath(spark, path).alias("t").merge(deduped.alias("s"), _on(sink.keys)).whenNotMatchedInsertAll()
    )
    run_merge(spark, builder, txn)


def with_window(frame: DataFrame, agg: AggregateDef) -> DataFrame:
    """``frame`` with the tumbling window's bounds as columns."""
    window = F.window(F.col(agg.window_column), agg.duration)
    return frame.withColumn("__w", window).withColumns({WINDOW_START: F.col("__w.start"), WINDOW_END: F.col("__w.end")})


def group_keys(agg: AggregateDef) -> list[str]:
    return [WINDOW_START, WINDOW_END, *agg.group_by]


def aggregate_windowed(keyed: DataFrame, agg: AggregateDef) -> DataFrame:
    """One row per window and group of rows that carry their window bounds already."""
    measures: list[Column] = [F.expr(sql).alias(name) for name, sql in agg.measures.items()]
    return keyed.groupBy(*group_keys(agg)).agg(*measures)


def aggregate(frame: DataFrame, agg: AggregateDef) -> DataFrame:
    """One row per window and group, measures named as in the workload."""
    return aggregate_windowed(with_window(frame, agg), agg)


def touched(batch: DataFrame, agg: AggregateDef) -> DataFrame:
    """The distinct windows and groups a batch falls in."""
    return with_window(batch, agg).select(*group_keys(agg)).distinct()


def recompute_aggregate(
    spark: SparkSession, batch: DataFrame, lake: str, sink: SinkDef, txn: Txn, *, exists: bool, broadcast: bool = True
) -> None:
    """The driver's method: recompute every group the batch touches from the upstream table
    (which already holds this batch) and MERGE them, so windows spanning batches stay exact.
    An append-only upstream never loses a group, so no stale-group delete is needed here."""
    agg = sink.aggregate
    assert agg is not None
    keys = group_keys(agg)
    groups = touched(batch, agg)
    upstream = with_window(spark.read.format("delta").load(table_path(lake, agg.upstream)), agg)
    affected = upstream.join(F.broadcast(groups) if broadcast else groups, on=keys, how="left_semi")
    fresh = aggregate_windowed(affected, agg)
    path = table_path(lake, sink.name)
    if not exists:
        append(fresh, path, txn)
        return
    builder = (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(fresh.alias("s"), _on(keys))
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
    )
    run_merge(spark, builder, txn)


ADDITIVE = {"count(*)", "sum(amount)"}


def accumulate_aggregate(spark: SparkSession, batch: DataFrame, path: str, sink: SinkDef, txn: Txn) -> None:
    """For a stream that cannot read the upstream table (it races the upstream's own stream):
    aggregate the batch and add it to the stored groups. Exact for additive measures only
    (count, sum), which is all this workload has; the txn id keeps a replay from adding twice."""
    agg = sink.aggregate
    assert agg is not None
    assert set(agg.measures.values()) <= ADDITIVE, "accumulating needs additive measures"
    fresh = aggregate(batch, agg)
    if not table_exists(spark, path):
        append(fresh, path, txn)
        return
    added: Mapping[str, str | Column] = {m: F.col(f"t.`{m}`") + F.col(f"s.`{m}`") for m in agg.measures}
    builder = (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(fresh.alias("s"), _on(group_keys(agg)))
        .whenMatchedUpdate(set=dict(added))
        .whenNotMatchedInsertAll()
    )
    run_merge(spark, builder, txn)
