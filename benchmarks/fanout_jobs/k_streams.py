"""Contender ``k_streams``: one Structured Streaming query per table in one application, each
with its own checkpoint, all started and then awaited. Appends are plain
``writeStream.format("delta")`` (exactly once through the Delta sink's own txn ids); the MERGE
and the aggregate use ``foreachBatch`` with a txn id. Each query reads every source file itself.

The aggregate cannot recompute its groups from the ``bronze`` table as the driver does: that
table is written by another, concurrent query, so it may not hold the batch yet. It adds each
batch's counts and sums to the stored groups instead (exact here: both measures are additive).

    spark-submit ... benchmarks/fanout_jobs/k_streams.py --landing L --lake D --checkpoint C --k 8
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming.query import StreamingQuery

from benchmarks.fanout_jobs.lib import (
    JobArgs,
    accumulate_aggregate,
    merge_new_keys,
    parse_args,
    read_source,
    session,
    sink_input,
    table_exists,
)
from benchmarks.fanout_workload import APP_ID, SinkDef


def batch_writer(sink: SinkDef, path: str) -> Callable[[DataFrame, int], None]:
    """The foreachBatch function of a MERGE or aggregate sink. ``batch.sparkSession`` is the
    query's own session, so the MERGE txn confs set on it reach no other query."""
    txn_app_id = f"{APP_ID}.{sink.name}"

    def write(batch: DataFrame, batch_id: int) -> None:
        spark = batch.sparkSession
        if sink.kind == "merge":
            exists = table_exists(spark, path)
            merge_new_keys(spark, batch, path, sink, (txn_app_id, batch_id), exists=exists)
        else:
            accumulate_aggregate(spark, batch, path, sink, (txn_app_id, batch_id))

    return write


def start_query(spark: SparkSession, args: JobArgs, sink: SinkDef) -> StreamingQuery:
    path = args.path(sink.name)
    stream = sink_input(read_source(spark, args.landing), sink)
    writer = (
        stream.writeStream.option("checkpointLocation", f"{args.checkpoint}/{sink.name}")
        .queryName(f"k-streams-{sink.name}")
        .trigger(availableNow=True)
    )
    if sink.kind == "append":
        return writer.format("delta").outputMode("append").start(path)
    return writer.foreachBatch(batch_writer(sink, path)).start()


def main() -> None:
    args = parse_args(__doc__ or "")
    spark = session("fanout-bench-k-streams")
    queries = [start_query(spark, args, sink) for sink in args.sinks]
    for query in queries:
        query.awaitTermination()
    spark.stop()


if __name__ == "__main__":
    main()
