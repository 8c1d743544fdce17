"""How long one status check of a sink takes: the project's txn log reader (the sensor's code path)
vs ``deltalake.DeltaTable(path).transaction_version()``, on tables with more and more commits.

Tables are written with delta-rs (one small append with a txn per commit, checkpoints every
100 commits as delta-rs writes them). Each measurement is repeated; min and median are reported.

    .venv/bin/python benchmarks/txn_reader.py [--commits 10 1000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from airflow_fanout.txnlog import read_txn_log

RESULTS = Path(__file__).with_name("results") / "txn_reader.json"


def build(path: str, commits: int, files_per_commit: int) -> None:
    for i in range(commits):
        data = pa.table({"id": list(range(files_per_commit)), "part": list(range(files_per_commit))})
        write_deltalake(
            path,
            data,
            mode="append",
            partition_by=["part"] if files_per_commit > 1 else None,
            commit_properties=CommitProperties(app_transactions=[Transaction("bench.sink", i)]),
        )
        if (i + 1) % 100 == 0:
            DeltaTable(path).create_checkpoint()


def timed(fn, repeat: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return {"min_ms": round(min(samples) * 1000, 3), "median_ms": round(statistics.median(samples) * 1000, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commits", type=int, nargs="+", default=[10, 1000])
    parser.add_argument("--files-per-commit", type=int, nargs="+", default=[1, 50])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for commits in args.commits:
            for files in args.files_per_commit:
                path = f"{tmp}/t-{commits}-{files}"
                build(path, commits, files)
                expected = commits - 1
                log = read_txn_log(path)
                assert log is not None and log.txn_version("bench.sink") == expected
                assert DeltaTable(path).transaction_version("bench.sink") == expected
                reader = timed(lambda p=path: read_txn_log(p).txn_version("bench.sink"), args.repeat)  # type: ignore[union-attr]
                deltalake = timed(lambda p=path: DeltaTable(p).transaction_version("bench.sink"), args.repeat)
                row = {
                    "commits": commits,
                    "data_files": commits * files,
                    "txn_reader": reader,
                    "deltalake": deltalake,
                    "speedup_median": round(deltalake["median_ms"] / reader["median_ms"], 1),
                }
                print(json.dumps(row))
                rows.append(row)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": platform.platform(),
                "python": platform.python_version(),
                "repeat": args.repeat,
                "results": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
