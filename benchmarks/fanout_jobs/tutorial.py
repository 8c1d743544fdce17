"""Contender ``tutorial``: the ``foreachBatch`` style tutorials teach. One stream; in each batch
the sinks are written one after another, each guarded by ``if df.count() > 0``; nothing is
cached (so every count and every write reads the batch's files again); no txn ids.

    spark-submit ... benchmarks/fanout_jobs/tutorial.py --landing L --lake D --checkpoint C --k 8
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from benchmarks.fanout_jobs.lib import (
    append,
    merge_new_keys,
    parse_args,
    recompute_aggregate,
    run_available_now,
    session,
    sink_input,
    table_exists,
)


def main() -> None:
    args = parse_args(__doc__ or "")
    spark = session("fanout-bench-tutorial")

    def write_batch(batch: DataFrame, batch_id: int) -> None:
        del batch_id  # no idempotent writes in the tutorial style
        for sink in args.sinks:
            path = args.path(sink.name)
            rows = sink_input(batch, sink)
            if rows.count() == 0:
                continue
            if sink.kind == "append":
                append(rows, path, None)
            elif sink.kind == "merge":
                merge_new_keys(spark, rows, path, sink, None, exists=table_exists(spark, path))
            else:
                exists = table_exists(spark, path)
                recompute_aggregate(spark, rows, args.lake, sink, None, exists=exists, broadcast=False)

    run_available_now(spark, args, write_batch)


if __name__ == "__main__":
    main()
