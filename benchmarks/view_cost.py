"""Workload D: what keeping a view up to date costs per batch, as its upstream table grows.

A silver MERGE sink of N events (100,000 a day: a larger table holds more days, as a table that
keeps its history does) feeds four views, written by the
driver (in-process, one local session): ``gold`` (count and sum per window and type: kept by
deltas), ``extremes`` (max and min per hour: deltas, and a recompute of the hours a row left),
``distinct_users`` (``count(DISTINCT user_id)`` per window and type: every touched window
recomputed through a time-range predicate) and ``orders`` (a keyed view, a route). After the
initial load, each incremental batch brings 1,000 changes: half update existing events (a later
time, another type: the row leaves one group for another), half are new events. Each view's
time is its sink write in the run report (reading the change feed, computing, the MERGE).

The baseline of each view is what a materialized view without incremental maintenance does per
refresh (Spark Declarative Pipelines, a scheduled ``CREATE OR REPLACE TABLE ... AS SELECT``): its
query over the whole silver table, overwriting a table, timed in the same session after each
batch. The claim checked: the views' cost follows the batch (flat in N), the full refresh's
follows the table. Updates hit the last two days of the range (corrections, late data), so the
touched windows are few and Delta skips the rest of the table.

    .venv/bin/python -m benchmarks.view_cost [--quick]

Results: ``benchmarks/results/view_cost[-quick].json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from airflow_fanout.driver.runner import FanOutRun
from airflow_fanout.spec import parse_spec
from benchmarks.common import PLOTS_DIR, local_delta_session, summarize, write_results

SIZES = (100_000, 1_000_000, 4_000_000, 16_000_000)
QUICK_SIZES = (20_000, 200_000)
CHANGES_PER_BATCH = 1_000
#: updates hit the events of the last days of the 30-day range, as corrections and late data do
RECENT_DAYS = 2
ROWS_PER_DAY = 100_000
VIEWS = ("gold", "extremes", "distinct_users", "orders")
REFRESH = "full refresh of {}"
SCHEMA = "event_id BIGINT, user_id BIGINT, event_type STRING, amount DOUBLE, event_time TIMESTAMP"
TYPES = "array('order', 'refund', 'review', 'click')"


def spec(root: Path) -> dict[str, Any]:
    def aggregate(name: str, duration: str, group_by: list[str], measures: dict[str, str]) -> dict[str, Any]:
        window = {"column": "event_time", "duration": duration}
        body = {"window": window, "group_by": group_by, "measures": measures}
        return {"name": name, "from": "silver", "path": str(root / name), "mode": "merge", "aggregate": body}

    return {
        "version": 1,
        "app_id": "view_cost",
        "source": {"format": "delta", "path": str(root / "landing")},
        # one sink at a time: each sink's time in the report is then its own, not shared cores
        "run": {
            "mode": "stream",
            "trigger": {"available_now": True},
            "checkpoint": str(root / "checkpoint"),
            "max_parallel_sinks": 1,
        },
        "sinks": [
            {
                "name": "silver",
                "path": str(root / "silver"),
                "mode": "merge",
                "merge": {"keys": ["event_id"], "sequence_by": ["event_time"]},
            },
            aggregate("gold", "5 minutes", ["event_type"], {"events": "count(*)", "revenue": "sum(amount)"}),
            aggregate("extremes", "1 hour", [], {"top": "max(amount)", "low": "min(amount)"}),
            aggregate("distinct_users", "5 minutes", ["event_type"], {"users": "count(DISTINCT user_id)"}),
            {
                "name": "orders",
                "from": "silver",
                "path": str(root / "orders"),
                "mode": "merge",
                "where": "event_type = 'order'",
            },
        ],
    }


def land_initial(spark: SparkSession, landing: Path, rows: int) -> None:
    """``rows`` events, event time growing with the id (files cover time ranges, as event data
    landed in order does: what lets Delta skip files by time)."""
    minute = F.expr(f"CAST(id * 1440 / {ROWS_PER_DAY} AS BIGINT)")
    events = spark.range(rows).select(
        F.col("id").alias("event_id"),
        (F.col("id") % 5000).alias("user_id"),
        F.expr(f"{TYPES}[CAST(id % 4 AS INT)]").alias("event_type"),
        (F.col("id") % 997 / 10.0).alias("amount"),
        F.expr("TIMESTAMP '2026-01-01 00:00:00'").alias("base"),
        minute.alias("minute"),
    )
    events = events.select(
        "event_id",
        "user_id",
        "event_type",
        "amount",
        F.expr("base + make_interval(0, 0, 0, 0, 0, minute)").alias("event_time"),
    )
    files = max(1, rows // 250_000)
    events.repartitionByRange(files, "event_time").write.format("delta").save(str(landing))


def land_changes(spark: SparkSession, landing: Path, rows: int, batch: int) -> None:
    """Half updates of existing events of the last ``RECENT_DAYS`` days (corrections and late
    data: an event moved 30 to 90 minutes later and to the next type), half new events at the end
    of the range."""
    half = CHANGES_PER_BATCH // 2
    first = max(0, rows - RECENT_DAYS * ROWS_PER_DAY)
    step = max(1, (rows - first) // half)
    updates = spark.range(half).select(
        (F.lit(first) + (F.col("id") * step + batch * 7) % (rows - first)).alias("event_id"),
    )
    minute = F.expr(f"CAST(event_id * 1440 / {ROWS_PER_DAY} AS BIGINT) + 30 + {batch} * 20")
    updates = updates.select(
        "event_id",
        (F.col("event_id") % 5000 + 1).alias("user_id"),
        F.expr(f"{TYPES}[CAST((event_id + 1 + {batch}) % 4 AS INT)]").alias("event_type"),
        (F.col("event_id") % 991 / 10.0).alias("amount"),
        F.expr("TIMESTAMP '2026-01-01 00:00:00'").alias("t0"),
        minute.alias("minute"),
    )
    fresh = spark.range(half).select(
        (F.lit(rows + batch * half) + F.col("id")).alias("event_id"),
        (F.col("id") % 5000).alias("user_id"),
        F.expr(f"{TYPES}[CAST(id % 4 AS INT)]").alias("event_type"),
        (F.col("id") % 997 / 10.0).alias("amount"),
        F.expr("TIMESTAMP '2026-01-01 00:00:00'").alias("t0"),
        (F.lit(rows * 1440 // ROWS_PER_DAY) + F.col("id") % 60).alias("minute"),
    )
    changes = updates.unionByName(fresh).select(
        "event_id",
        "user_id",
        "event_type",
        "amount",
        F.expr("t0 + make_interval(0, 0, 0, 0, 0, minute)").alias("event_time"),
    )
    changes.coalesce(1).write.format("delta").mode("append").save(str(landing))


def full_refresh(spark: SparkSession, root: Path, view: str) -> float:
    """The baseline: the view's query over the whole silver table, overwriting a table."""
    started = time.perf_counter()
    silver = spark.read.format("delta").load(str(root / "silver"))
    five = F.window("event_time", "5 minutes").alias("w")
    hour = F.window("event_time", "1 hour").alias("w")
    queries = {
        "gold": lambda: silver.groupBy(five, "event_type").agg(
            F.count(F.lit(1)).alias("n"), F.sum("amount").alias("s")
        ),
        "extremes": lambda: silver.groupBy(hour).agg(F.max("amount").alias("top"), F.min("amount").alias("low")),
        "distinct_users": lambda: silver.groupBy(five, "event_type").agg(F.count_distinct("user_id").alias("users")),
        "orders": lambda: silver.where("event_type = 'order'"),
    }
    result = queries[view]()
    result.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(str(root / f"full_{view}"))
    return time.perf_counter() - started


def measure(spark: SparkSession, rows: int, batches: int) -> list[dict[str, Any]]:
    root = Path(tempfile.mkdtemp(prefix=f"view-cost-{rows}-"))
    try:
        land_initial(spark, root / "landing", rows)
        started = time.perf_counter()
        FanOutRun(spark, parse_spec(spec(root))).run()
        initial = time.perf_counter() - started
        for view in VIEWS:
            full_refresh(spark, root, view)  # warm the baseline's code paths once
        baselines = [REFRESH.format(view) for view in VIEWS]
        seconds: dict[str, list[float]] = {name: [] for name in (*VIEWS, "silver", *baselines)}
        for batch in range(1, batches + 1):
            land_changes(spark, root / "landing", rows, batch)
            run = FanOutRun(spark, parse_spec(spec(root)))
            run.run()
            for result in run.report.batches[-1].sinks:
                seconds[result.sink].append(result.duration_s)
            for view in VIEWS:
                seconds[REFRESH.format(view)].append(full_refresh(spark, root, view))
        out = [{"rows": rows, "contender": name, "per_batch_s": summarize(v)} for name, v in seconds.items()]
        out.append({"rows": rows, "contender": "initial load (all sinks)", "wall_s": round(initial, 3)})
        return out
    finally:
        shutil.rmtree(root, ignore_errors=True)


def plot(results: list[dict[str, Any]], name: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    colors = dict(zip(VIEWS, ("tab:blue", "tab:orange", "tab:green", "tab:red"), strict=True))
    for view in VIEWS:
        for contender, style in ((view, "-"), (REFRESH.format(view), ":")):
            points = sorted((r["rows"], r["per_batch_s"]["median"]) for r in results if r["contender"] == contender)
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            ax.plot(xs, ys, style, marker="o", color=colors[view], label=contender)
    ax.set_xscale("log")
    ax.set_xlabel("rows in the upstream (silver) table")
    ax.set_ylabel(f"seconds per batch of {CHANGES_PER_BATCH:,} changes (median)")
    ax.set_title("Keeping a view up to date: per-batch cost vs table size")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    path = PLOTS_DIR / f"{name}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}, 2 batches each")
    parser.add_argument("--batches", type=int, default=None, help="incremental batches per size (default 3)")
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else SIZES
    batches = args.batches or (2 if args.quick else 3)
    confs = {
        "spark.sql.shuffle.partitions": "4",
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.memory": "6g",
    }
    spark = local_delta_session("view-cost", confs)
    results: list[dict[str, Any]] = []
    for rows in sizes:
        begun = time.perf_counter()
        results += measure(spark, rows, batches)
        gold = next(r for r in results if r["rows"] == rows and r["contender"] == "gold")
        full = next(r for r in results if r["rows"] == rows and r["contender"] == REFRESH.format("gold"))
        print(
            f"{rows:>9,} rows: gold {gold['per_batch_s']['median']:.2f} s/batch, full refresh "
            f"{full['per_batch_s']['median']:.2f} s ({time.perf_counter() - begun:.0f} s)",
            flush=True,
        )
    for rows in sizes:
        for name in VIEWS:
            view = next(r for r in results if r["rows"] == rows and r["contender"] == name)
            full = next(r for r in results if r["rows"] == rows and r["contender"] == REFRESH.format(name))
            view["vs_full_refresh"] = round(full["per_batch_s"]["median"] / view["per_batch_s"]["median"], 2)
    name = "view_cost-quick" if args.quick else "view_cost"
    params = {"sizes": list(sizes), "batches": batches, "changes_per_batch": CHANGES_PER_BATCH, "confs": confs}
    print(write_results(name, params, results))
    print(plot(results, name))


if __name__ == "__main__":
    main()
