"""Backfill slices: one logical date per run, out of order, rerun replaces, retry resumes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_fanout.driver.runner import FanOutRun
from airflow_fanout.examples.medallion import medallion_backfill_spec
from airflow_fanout.sample_data import START, Event, generate_events, write_landing_batch
from airflow_fanout.spec import parse_spec
from tests.driver.helpers import gold_as_dict, rows, txn
from tests.expected import gold_rows, silver_rows

pytestmark = pytest.mark.spark
DAYS = ("2026-11-01", "2026-11-02", "2026-11-03")


def land_days(root: Path) -> list[Event]:
    events: list[Event] = []
    for i, _ in enumerate(DAYS):
        batch = generate_events(i, 60, start=START + timedelta(days=i))
        write_landing_batch(root / "landing", i, batch)
        events += batch
    return events


def run_slice(spark: Any, root: Path, ds: str, **overrides: Any) -> FanOutRun:
    doc = medallion_backfill_spec(root)
    for key, value in overrides.items():
        doc[key] = value
    run = FanOutRun(spark, parse_spec(doc, {"ds": ds}))
    run.run()
    return run


def on_day(events: list[Event], ds: str) -> list[Event]:
    return [e for e in events if e.event_time.strftime("%Y-%m-%d") == ds]


def test_slices_out_of_order_then_rerun_replaces_and_never_duplicates(spark: Any, tmp_path: Path) -> None:
    events = land_days(tmp_path)
    for ds in ("2026-11-03", "2026-11-01", "2026-11-02"):
        run_slice(spark, tmp_path, ds)
    lake = tmp_path.resolve()
    bronze = f"{lake}/bronze/events"
    in_range = [e for e in events if e.event_time.strftime("%Y-%m-%d") in DAYS]
    assert len(rows(bronze)) == len(in_range)
    assert len(rows(f"{lake}/silver/events")) == len(silver_rows(in_range))
    assert gold_as_dict(f"{lake}/gold/revenue_5min") == gold_rows(in_range)
    assert txn(bronze, "shop_backfill.bronze.2026-11-02") == 0

    rerun = run_slice(spark, tmp_path, "2026-11-02")  # a new run of one date: version 1, replaces
    assert rerun.report.batches[0].txn_version == 1
    assert {r.status for r in rerun.report.batches[0].sinks} == {"written"}
    assert len(rows(bronze)) == len(in_range)
    assert sum(1 for r in rows(bronze) if str(r["event_date"]) == "2026-11-02") == len(on_day(events, "2026-11-02"))
    assert gold_as_dict(f"{lake}/gold/revenue_5min") == gold_rows(in_range)
    assert txn(bronze, "shop_backfill.bronze.2026-11-02") == 1
    assert txn(bronze, "shop_backfill.bronze.2026-11-01") == 0


def test_failed_slice_run_is_retried_with_the_same_version(spark: Any, tmp_path: Path) -> None:
    events = land_days(tmp_path)
    doc = medallion_backfill_spec(tmp_path)
    doc["sinks"][2]["where"] = "raise_error('gold is down') IS NULL"
    with pytest.raises(Exception, match="gold"):
        FanOutRun(spark, parse_spec(doc, {"ds": "2026-11-01"})).run()
    lake = tmp_path.resolve()
    assert txn(f"{lake}/silver/events", "shop_backfill.silver.2026-11-01") == 0

    retry = run_slice(spark, tmp_path, "2026-11-01")
    statuses = {r.sink: r.status for r in retry.report.batches[0].sinks}
    assert retry.report.batches[0].txn_version == 0
    assert statuses == {"bronze": "skipped", "silver": "skipped", "gold": "written"}
    day = on_day(events, "2026-11-01")
    assert len(rows(f"{lake}/bronze/events")) == len(day)
    assert gold_as_dict(f"{lake}/gold/revenue_5min") == gold_rows(day)


def test_param_values_are_literals_not_sql(spark: Any, tmp_path: Path) -> None:
    land_days(tmp_path)
    doc = medallion_backfill_spec(tmp_path)
    doc["run"]["slice"] = {"key": "attack", "where": "user_id = :ds"}
    attack = "u001' OR '1'='1"
    run = FanOutRun(spark, parse_spec(doc, {"ds": attack}))
    run.run()
    bronze = rows(f"{tmp_path.resolve()}/bronze/events")
    assert bronze == []  # the whole value was compared as one literal: no row has that user_id
