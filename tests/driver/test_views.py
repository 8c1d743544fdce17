"""Views equal their query over the upstream table after every batch, whatever the batch
boundaries and the arrival order (issue 18's scenario).

Events arrive as versions of one id (later ``event_time``, often another type, window and amount),
shuffled, with invalid versions and malformed lines. Silver keeps the latest valid version per id
(``sequence_by: [event_time, amount]``); gold (count/sum per 5 minutes and type), an hourly
min/max/avg, one route per type and a change log read ``from`` silver. After every batch each view
is compared with its query over the silver table; after the run every table is compared with
what the events say, for two different splits and orders of the same events."""

from __future__ import annotations

import os
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from airflow_fanout.driver.report import BatchReport
from airflow_fanout.driver.runner import FanOutRun
from airflow_fanout.sample_data import Event, generate_versions, latest_valid
from airflow_fanout.spec import parse_spec
from tests.driver.helpers import json_stream_spec, rows

pytestmark = pytest.mark.spark
ROUTES = {"orders": "event_type = 'order'", "refunds": "event_type = 'refund'"}
ROUTE_COLUMNS = ["event_id", "user_id", "amount", "event_time"]
MALFORMED = ['{"event_id": "broken", "amount": ', "not json at all"]


def views_spec(root: Path) -> dict[str, Any]:
    def aggregate(name: str, duration: str, group_by: list[str], measures: dict[str, str]) -> dict[str, Any]:
        window = {"column": "event_time", "duration": duration}
        aggregate = {"window": window, "group_by": group_by, "measures": measures}
        return {"name": name, "from": "silver", "path": str(root / name), "mode": "merge", "aggregate": aggregate}

    sinks: list[dict[str, Any]] = [
        {
            "name": "silver",
            "path": str(root / "silver"),
            "mode": "merge",
            "expect": [
                {"name": "has_id", "check": "event_id IS NOT NULL"},
                {"name": "amount_not_negative", "check": "amount >= 0"},
            ],
            "merge": {"keys": ["event_id"], "sequence_by": ["event_time", "amount"]},
        },
        aggregate("gold", "5 minutes", ["event_type"], {"events": "count(*)", "revenue": "sum(amount)"}),
        aggregate(
            "hourly", "1 hour", [], {"top": "max(amount)", "low": "min(amount)", "mean": "round(avg(amount), 4)"}
        ),
        *[
            {"name": n, "from": "silver", "path": str(root / n), "mode": "merge", "where": w, "select": ROUTE_COLUMNS}
            for n, w in ROUTES.items()
        ],
        {"name": "others", "from": "silver", "path": str(root / "others"), "mode": "merge", "catch_all": True},
        {"name": "silver_changes", "from": "silver", "path": str(root / "silver_changes"), "mode": "append"},
    ]
    spec = json_stream_spec(root, "views", sinks, dead_letter={"path": str(root / "dead_letters")})
    spec["source"]["corrupt_records"] = "dead_letter"
    return spec


def land(folder: Path, batches: list[list[Event]]) -> None:
    """One file per batch, in this order; the first file also holds the malformed lines."""
    folder.mkdir(parents=True)
    for i, events in enumerate(batches):
        lines = [__import__("json").dumps(e.to_json()) for e in events] + (MALFORMED if i == 0 else [])
        path = folder / f"batch-{i:02d}.json"
        path.write_text("\n".join(lines) + "\n")
        os.utime(path, (1_700_000_000 + i, 1_700_000_000 + i))


def table(spark: Any, path: Path) -> DataFrame:
    frame: DataFrame = spark.read.format("delta").load(str(path))
    return frame


def as_set(frame: DataFrame, columns: list[str]) -> set[tuple[Any, ...]]:
    out = set()
    for row in frame.select(*columns).collect():
        out.add(tuple(round(v, 6) if isinstance(v, float) else v for v in row))
    return out


def check_views(spark: Any, root: Path) -> None:
    """Every view equals its query over the silver table as it is now."""
    silver = table(spark, root / "silver")
    gold = silver.groupBy(F.window("event_time", "5 minutes").alias("w"), "event_type").agg(
        F.count(F.lit(1)).alias("events"), F.sum("amount").alias("revenue")
    )
    gold = gold.select(F.col("w.start").alias("window_start"), "event_type", "events", "revenue")
    columns = ["window_start", "event_type", "events", "revenue"]
    assert as_set(table(spark, root / "gold"), columns) == as_set(gold, columns)
    hourly = silver.groupBy(F.window("event_time", "1 hour").alias("w")).agg(
        F.max("amount").alias("top"), F.min("amount").alias("low"), F.round(F.avg("amount"), 4).alias("mean")
    )
    hourly = hourly.select(F.col("w.start").alias("window_start"), "top", "low", "mean")
    assert as_set(table(spark, root / "hourly"), ["window_start", "top", "low", "mean"]) == as_set(
        hourly, ["window_start", "top", "low", "mean"]
    )
    for name, where in ROUTES.items():
        assert as_set(table(spark, root / name), ROUTE_COLUMNS) == as_set(silver.where(where), ROUTE_COLUMNS), name
    others = silver.where("NOT (coalesce(event_type = 'order', false) OR coalesce(event_type = 'refund', false))")
    assert as_set(table(spark, root / "others"), silver.columns) == as_set(others, silver.columns)


def expected_tables(events: list[Event]) -> dict[str, set[tuple[Any, ...]]]:
    """What the events say each table holds (computed in Python)."""
    latest = latest_valid(events)
    out: dict[str, set[tuple[Any, ...]]] = {
        "silver": {(e.event_id, e.event_type, e.amount, e.event_time) for e in latest.values()},
        "orders": {(e.event_id, e.amount) for e in latest.values() if e.event_type == "order"},
        "refunds": {(e.event_id, e.amount) for e in latest.values() if e.event_type == "refund"},
    }
    gold: dict[tuple[datetime, str], list[float]] = defaultdict(list)
    for e in latest.values():
        start = e.event_time.replace(minute=e.event_time.minute - e.event_time.minute % 5, second=0)
        gold[(start, e.event_type)].append(e.amount)
    out["gold"] = {(k[0], k[1], len(v), round(sum(v), 6)) for k, v in gold.items()}
    return out


def actual_tables(root: Path) -> dict[str, set[tuple[Any, ...]]]:
    def utc(value: datetime) -> datetime:
        return value.astimezone(timezone.utc)

    silver = {(r["event_id"], r["event_type"], r["amount"], utc(r["event_time"])) for r in rows(str(root / "silver"))}
    return {
        "silver": silver,
        "orders": {(r["event_id"], r["amount"]) for r in rows(str(root / "orders"))},
        "refunds": {(r["event_id"], r["amount"]) for r in rows(str(root / "refunds"))},
        "gold": {
            (utc(r["window_start"]), r["event_type"], r["events"], round(r["revenue"], 6))
            for r in rows(str(root / "gold"))
        },
    }


def run(spark: Any, root: Path, batches: list[list[Event]], check: bool) -> FanOutRun:
    land(root / "landing", batches)
    fanout = FanOutRun(spark, parse_spec(views_spec(root)))
    if check:
        fanout.on_batch = lambda _report: check_views(spark, root)
    fanout.run()
    return fanout


def test_views_equal_their_query_after_every_batch_in_any_split_and_order(spark: Any, tmp_path: Path) -> None:
    events = generate_versions(60)
    invalid = sum(1 for e in events if e.amount < 0)
    want = expected_tables(events)

    # Four batches in arrival order, every view checked against silver after each batch.
    first = tmp_path / "four"
    reports: list[BatchReport] = []
    fanout = run(spark, first, [events[i::4] for i in range(4)], check=True)
    reports = fanout.report.batches
    assert len(reports) == 4
    assert actual_tables(first) == want
    letters = rows(str(first / "dead_letters"))
    assert sum(1 for r in letters if r["_sink"] == "_source") == len(MALFORMED)
    assert sum(1 for r in letters if r["_sink"] == "silver") == invalid
    # Gold kept its state from the changes alone after its first batch (no read of silver).
    gold = [next(s for s in b.sinks if s.sink == "gold") for b in reports]
    assert [g.view["source"] for g in gold if g.view] == ["rebuild", "feed", "feed", "feed"]
    assert [g.txn_version for g in gold] == [r.table_version for b in reports for r in b.sinks if r.sink == "silver"]

    # The change log replays into silver: the latest image per key of every commit.
    log = table(spark, first / "silver_changes").where("_change_type != 'update_preimage'")
    latest = log.groupBy("event_id").agg(F.max_by(F.struct("_change_type", "amount"), "_commit_version").alias("c"))
    replayed = {(r["event_id"], r["c"]["amount"]) for r in latest.collect() if r["c"]["_change_type"] != "delete"}
    assert replayed == {(e[0], e[2]) for e in want["silver"]}
    assert table(spark, first / "silver_changes").where("_change_type = 'update_preimage'").count() > 0

    # The same events in two batches, newest-landing first: the same tables.
    second = tmp_path / "two_reversed"
    run(spark, second, [events[len(events) // 2 :], events[: len(events) // 2]], check=False)
    assert actual_tables(second) == want
    check_views(spark, second)
