"""Routing: one sink per route plus a catch-all; the batch is read from the source once whatever
the number of routes (proved by a counting probe in the batch's plan)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import LongType

from airflow_fanout.driver.runner import FanOutRun
from airflow_fanout.sample_data import EVENT_SCHEMA, EVENT_TYPES, generate_events, write_landing_batch
from airflow_fanout.spec import parse_spec
from tests.driver.helpers import rows

pytestmark = pytest.mark.spark


def routing_spec(root: Path) -> dict[str, Any]:
    routes: list[dict[str, Any]] = [
        {"name": kind, "path": str(root / kind), "mode": "append", "where": f"event_type = '{kind}'"}
        for kind in EVENT_TYPES[:3]
    ]
    return {
        "version": 1,
        "app_id": "router",
        "source": {"format": "json", "path": str(root / "landing"), "schema": EVENT_SCHEMA},
        "run": {"mode": "stream", "checkpoint": str(root / "cp"), "max_parallel_sinks": 4},
        "sinks": [*routes, {"name": "other", "path": str(root / "other"), "mode": "append", "catch_all": True}],
    }


def test_routes_and_catch_all_read_the_batch_once(spark: Any, tmp_path: Path) -> None:
    events = generate_events(0, 300)
    write_landing_batch(tmp_path / "landing", 0, events)
    doc = routing_spec(tmp_path)

    # A probe in the batch's plan counts every row Spark computes from the source.
    evaluated = spark.sparkContext.accumulator(0)

    def probe(value: Any) -> int:
        evaluated.add(1)
        return 1

    probe_udf = F.udf(probe, LongType())
    batch = spark.read.schema(EVENT_SCHEMA).json(str(tmp_path / "landing")).withColumn("_probe", probe_udf("event_id"))
    run = FanOutRun(spark, parse_spec(doc))
    run.write_batch(batch, 0)

    assert evaluated.value == len(events)  # 4 sinks, one read of the batch
    for kind in EVENT_TYPES[:3]:
        assert len(rows(str(tmp_path / kind))) == sum(1 for e in events if e.event_type == kind)
    other = rows(str(tmp_path / "other"))
    assert {r["event_type"] for r in other} == set(EVENT_TYPES[3:])
    assert sum(len(rows(str(tmp_path / s["name"]))) for s in doc["sinks"]) == len(events)
