"""Contender ``hand_optimal``: hand-written PySpark for exactly this workload, the practical
lower bound. One stream, one read per batch, the batch persisted when more than one sink reads
it, every sink written in parallel on a thread pool (the aggregate as soon as ``bronze`` is
committed), a Delta txn id on every write, no ``count()``, no checks a general tool needs.

    spark-submit ... benchmarks/fanout_jobs/hand_optimal.py --landing L --lake D --checkpoint C --k 8
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession

from benchmarks.fanout_jobs.lib import (
    JobArgs,
    append,
    merge_new_keys,
    parse_args,
    recompute_aggregate,
    run_available_now,
    session,
    sink_input,
    table_exists,
)
from benchmarks.fanout_workload import APP_ID, SinkDef


class HandOptimal:
    """The foreachBatch function and what it keeps across batches (one session per MERGE sink:
    a MERGE takes its txn id from session confs, and the sinks are written concurrently)."""

    def __init__(self, spark: SparkSession, args: JobArgs) -> None:
        self.spark = spark
        self.args = args
        self.sessions = {s.name: spark.newSession() for s in args.sinks if s.kind != "append"}

    def write_batch(self, batch: DataFrame, batch_id: int) -> None:
        sinks = self.args.sinks
        if len(sinks) > 1:
            batch = batch.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            exists = {name: table_exists(self.spark, self.args.path(name)) for name in self.sessions}
            with ThreadPoolExecutor(max_workers=max(1, min(self.args.max_parallel, len(sinks)))) as pool:
                futures: dict[str, Future[None]] = {}
                for sink in sinks:  # upstreams come first in the list, so their futures exist
                    upstream = futures.get(sink.aggregate.upstream) if sink.aggregate else None
                    futures[sink.name] = pool.submit(self._write, sink, batch, batch_id, exists, upstream)
                for future in futures.values():
                    future.result()
        finally:
            batch.unpersist()

    def _write(
        self, sink: SinkDef, batch: DataFrame, batch_id: int, exists: dict[str, bool], after: Future[None] | None
    ) -> None:
        # Labels the jobs in the event log (thread-local), as the driver does; costs nothing.
        self.spark.sparkContext.setJobDescription(f"batch {batch_id} sink {sink.name}")
        txn = (f"{APP_ID}.{sink.name}", batch_id)
        path = self.args.path(sink.name)
        if sink.kind == "append":
            append(sink_input(batch, sink), path, txn)
        elif sink.kind == "merge":
            merge_new_keys(self.sessions[sink.name], batch, path, sink, txn, exists=exists[sink.name])
        else:
            if after is not None:
                after.result()  # the upstream table must hold this batch before the recompute
            spark = self.sessions[sink.name]
            recompute_aggregate(spark, batch, self.args.lake, sink, txn, exists=exists[sink.name])


def main() -> None:
    args = parse_args(__doc__ or "")
    spark = session("fanout-bench-hand-optimal")
    writer = HandOptimal(spark, args)
    run_available_now(spark, args, writer.write_batch)


if __name__ == "__main__":
    main()
