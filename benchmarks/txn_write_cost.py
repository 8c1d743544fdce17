"""What a txn id costs per Delta write, and how Delta's snapshot partitions change it.

Delta 4.4 rebuilds a table's state for every write that carries a txn id (``docs/design.md``,
"What Delta still costs per write"), in ``spark.databricks.delta.snapshotPartitions`` tasks. This
measures, in one local session, rounds of ``--threads`` parallel 1,000-row appends (one table
each, as the driver writes sinks in parallel) under each setting, interleaved round by round so
that JIT warm-up and machine load hit every setting alike; the first round is dropped (cold JVM).
It is how the driver's local default (one partition per core, ``airflow_fanout/submit.py``) was
chosen.

    .venv/bin/python -m benchmarks.txn_write_cost [--rounds 7] [--threads 4]

Results: ``benchmarks/results/txn_write_cost.json``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from airflow_fanout.submit import SNAPSHOT_PARTITIONS
from benchmarks.common import local_delta_session, summarize, write_results

MASTER = "local[2]"
#: setting -> (snapshot partitions, None: Delta's default; whether the appends carry a txn id)
SETTINGS: dict[str, tuple[str | None, bool]] = {
    "Delta's default (50), txn id": (None, True),
    "4 partitions, txn id": ("4", True),
    "2 partitions (one per core), txn id": ("2", True),
    "1 partition, txn id": ("1", True),
    "4 partitions, no txn id": ("4", False),
}


def session() -> SparkSession:
    spark: SparkSession = local_delta_session("txn-write-cost", {"spark.sql.shuffle.partitions": "4"}, MASTER)
    return spark


def append(rows: DataFrame, path: Path, version: int, with_txn: bool) -> None:
    writer = rows.write.format("delta").mode("append")
    if with_txn:
        writer = writer.option("txnAppId", "txn-write-cost").option("txnVersion", version)
    writer.save(str(path))


def measure(spark: SparkSession, root: Path, rounds: int, threads: int) -> dict[str, list[float]]:
    rows = spark.range(1000).selectExpr("id", "cast(id as string) AS s")
    tables = {name: [root / f"setting{i}" / f"t{t}" for t in range(threads)] for i, name in enumerate(SETTINGS)}
    for paths in tables.values():
        for path in paths:
            rows.write.format("delta").save(str(path))
    seconds: dict[str, list[float]] = {name: [] for name in SETTINGS}
    with ThreadPoolExecutor(threads) as pool:
        for version in range(1, rounds + 1):
            for name, (partitions, with_txn) in SETTINGS.items():
                if partitions is None:
                    spark.conf.unset(SNAPSHOT_PARTITIONS)
                else:
                    spark.conf.set(SNAPSHOT_PARTITIONS, partitions)
                started = time.perf_counter()
                paths = tables[name]
                list(pool.map(append, [rows] * len(paths), paths, [version] * len(paths), [with_txn] * len(paths)))
                seconds[name].append(time.perf_counter() - started)
    return {name: runs[1:] for name, runs in seconds.items()}  # round 1: cold JVM


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7, help="rounds per setting, the first dropped")
    parser.add_argument("--threads", type=int, default=4, help="tables appended to in parallel per round")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="txn-write-cost-"))
    try:
        seconds = measure(session(), root, args.rounds, args.threads)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    results: list[dict[str, Any]] = []
    for name, runs in seconds.items():
        results.append({"setting": name, "round_s": summarize(runs)})
        print(f"{name:40s} {args.threads} parallel appends: median {results[-1]['round_s']['median']:.3f} s")
    path = write_results(
        "txn_write_cost", {"master": MASTER, "rounds": args.rounds, "threads": args.threads, "rows": 1000}, results
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
