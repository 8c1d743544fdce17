"""The example DAGs end to end with real Airflow (``dag.test()``, SQLite, temp AIRFLOW_HOME) and
the driver through spark-submit on local Spark: the tables must equal what plain Python computes
from the generated events, and the sensors must succeed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_fanout.sample_data import START, Event, generate_events, write_landing_batch
from tests.airflow.dag_runner import migrate
from tests.driver.helpers import gold_as_dict, rows, version
from tests.expected import gold_rows, silver_rows

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
RUNNER = str(Path(__file__).with_name("dag_runner.py"))


def airflow_env(home: Path, lake: Path) -> dict[str, str]:
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": "local[2]"}),
        "PYTHONPATH": str(ROOT),
        "FANOUT_LAKE": str(lake),
    }


def run_dag(env: dict[str, str], dag_file: str, dag_id: str, logical_date: str, out: Path) -> dict[str, Any]:
    return run_dag_logged(env, dag_file, dag_id, logical_date, out).result


@dataclass
class LoggedRun:
    result: dict[str, Any]
    log: str


def run_dag_logged(env: dict[str, str], dag_file: str, dag_id: str, logical_date: str, out: Path) -> LoggedRun:
    """``run_dag``, keeping what the run printed (dag.test() prints the task logs)."""
    done = subprocess.run(
        [sys.executable, RUNNER, str(DAGS / dag_file), dag_id, logical_date, str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return LoggedRun(json.loads(out.read_text()), done.stdout + done.stderr)


def paths(lake: Path) -> dict[str, str]:
    return {"bronze": f"{lake}/bronze/events", "silver": f"{lake}/silver/events", "gold": f"{lake}/gold/revenue_5min"}


def assert_tables(lake: Path, events: list[Event]) -> None:
    tables = paths(lake)
    assert len(rows(tables["bronze"])) == len(events)
    assert sorted(r["event_id"] for r in rows(tables["silver"])) == sorted(silver_rows(events))
    assert gold_as_dict(tables["gold"]) == gold_rows(events)


def test_medallion_backfill_dag_over_dates_out_of_order_and_a_rerun(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    events: list[Event] = []
    for day in range(2):
        batch = [
            e
            for e in generate_events(day, 80, start=START + timedelta(days=day))
            if e.event_time.strftime("%Y-%m-%d") == (START + timedelta(days=day)).strftime("%Y-%m-%d")
        ]
        write_landing_batch(lake / "landing", day, batch)
        events += batch
    env = airflow_env(tmp_path / "home", lake)
    migrate(env)
    # The consumer DAG starts first: its deferred sensor waits in the trigger and gives up, naming
    # gold (a view of silver) as waiting for silver's commit of the day.
    early = run_dag_logged(
        {**env, "FANOUT_REPORT_WAIT_S": "8"},
        "gold_report.py",
        "fanout_gold_report",
        "2026-11-02T00:00:00+00:00",
        tmp_path / "early.json",
    )
    assert early.result["tasks"]["wait_for_gold"] == "failed", early.result
    assert "a view of silver, waiting for silver to commit txn shop_backfill.silver.2026-11-02 >= 0" in early.log
    assert "waiting for 1 sink(s)" in early.log  # the trigger's poll: the sensor deferred
    expected_tasks = {"write_day": "success", "read_gold": "success"}
    for ds in ("2026-11-02", "2026-11-01"):  # out of order
        result = run_dag(
            env, "medallion_backfill.py", "fanout_medallion_backfill", f"{ds}T00:00:00+00:00", tmp_path / f"{ds}.json"
        )
        assert result["tasks"] == expected_tasks, result
    tables = lake / "backfill"
    assert_tables(tables, events)
    versions = {name: version(p) for name, p in paths(tables).items()}
    # Now the day is there: the consumer's sensor succeeds and the report reads gold.
    late = run_dag(env, "gold_report.py", "fanout_gold_report", "2026-11-02T00:00:00+00:00", tmp_path / "late.json")
    assert late["tasks"] == {"wait_for_gold": "success", "report": "success"}, late
    second_day = [e for e in silver_rows(events).values() if e.event_time.strftime("%Y-%m-%d") == "2026-11-02"]
    assert set(late["xcom"]["report"]["revenue"]) == {e.event_type for e in second_day}

    rerun = run_dag(
        env, "medallion_backfill.py", "fanout_medallion_backfill", "2026-11-02T00:00:00+00:00", tmp_path / "rerun.json"
    )
    assert rerun["tasks"] == expected_tasks, rerun
    assert_tables(tables, events)  # the date was replaced, not duplicated
    assert all(version(p) > versions[name] for name, p in paths(tables).items())


def test_streaming_available_now_dag_runs_with_dag_test(tmp_path: Path) -> None:
    """One run through ``dag.test()`` (the deployment test drives more runs through a scheduler)."""
    lake = tmp_path / "lake"
    env = airflow_env(tmp_path / "home", lake)
    migrate(env)
    events = generate_events(0, 70)
    write_landing_batch(lake / "landing", 0, events)
    result = run_dag(
        env,
        "streaming_available_now.py",
        "fanout_streaming_available_now",
        "2026-11-27T00:00:00+00:00",
        tmp_path / "r.json",
    )
    assert result["tasks"] == {"fan_out": "success", "wait_for_sinks": "success"}, result
    assert_tables(lake, events)
    bronze = result["asset_events"]["shop_events.bronze"]
    assert bronze["rows_inserted"] == len(events) and bronze["batch_ids"] == [0]
    assert bronze["table_version"] == version(paths(lake)["bronze"])
    assert result["xcom"]["fan_out"]["report"].endswith("/run.json")
