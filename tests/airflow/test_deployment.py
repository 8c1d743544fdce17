"""The example DAGs in a real Airflow deployment: scheduler (LocalExecutor), dag-processor,
triggerer and API server as separate processes on loopback ports, a SQLite metadata DB, driven
only through the REST API as a user would (unpause, trigger), and looked at in headless Chromium.

What it proves: the backfill's first unpause (three dates, two at once, all creating the same
tables) writes every table exactly once; the consumer DAG's sensor really defers to the triggerer
and comes back when the backfill commits; the scheduled stream and manual runs pick up exactly
the new files (an idle run writes and signals nothing); each Asset event says what its sink
wrote; every process the test started stops."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_fanout.sample_data import START, Event, generate_events, write_landing_batch
from tests.airflow.dag_runner import migrate
from tests.airflow.deployment import Deployment, airflow_deployment
from tests.airflow.test_example_dags import airflow_env, assert_tables, paths
from tests.airflow.ui_browser import ARTIFACTS, browser
from tests.driver.helpers import txn, version
from tests.expected import silver_rows

pytestmark = pytest.mark.slow
DAG_IDS = ("fanout_medallion_backfill", "fanout_gold_report", "fanout_streaming_available_now")


def day_events(day: int, count: int) -> list[Event]:
    """Landing batch ``day``: events of 2026-11-0<day+1> only (the backfill reads a day per run)."""
    date = (START + timedelta(days=day)).strftime("%Y-%m-%d")
    events = generate_events(day, count, start=START + timedelta(days=day))
    return [e for e in events if e.event_time.strftime("%Y-%m-%d") == date]


def test_example_dags_in_a_real_deployment(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    events: list[Event] = []
    for day in range(3):
        batch = day_events(day, 60)
        write_landing_batch(lake / "landing", day, batch)
        events += batch
    env = airflow_env(tmp_path / "home", lake)
    migrate(env)
    with airflow_deployment(env, tmp_path / "logs") as airflow:
        api = airflow.api
        airflow.wait("the example DAGs parsed", lambda: parsed(api.get("/dags?limit=100")["dags"]))

        # The consumer first: its sensors have nothing to confirm yet, so they defer (no worker
        # slot held) and the trigger polls the Delta logs in the triggerer.
        api.unpause("fanout_gold_report")
        airflow.wait("a deferred wait_for_gold", lambda: deferred(api.task_states("fanout_gold_report")))

        # First unpause of the backfill: catch-up creates the three dates, two running at once.
        api.unpause("fanout_medallion_backfill")
        airflow.wait_runs("fanout_medallion_backfill", 3)
        tables = lake / "backfill"
        assert_tables(tables, events)
        for ds in ("2026-11-01", "2026-11-02", "2026-11-03"):
            assert txn(paths(tables)["bronze"], f"shop_backfill.bronze.{ds}") is not None, ds
        backfill_events = api.asset_events("fanout_medallion_backfill")
        assert {e["asset_id"] for e in backfill_events} and all(e["extra"]["txn_app_id"] for e in backfill_events)
        bronze = [e["extra"] for e in backfill_events if e["extra"]["txn_app_id"].startswith("shop_backfill.bronze.")]
        assert sorted(e["txn_app_id"] for e in bronze) == [f"shop_backfill.bronze.2026-11-0{d}" for d in (1, 2, 3)]
        assert sum(e["rows_inserted"] for e in bronze) == len(events)

        # ... and the deferred sensors came back from the triggerer: each day's report read gold.
        runs = airflow.wait_runs("fanout_gold_report", 3)
        for run in runs:
            ds = run["logical_date"][:10]
            xcom = f"/dags/fanout_gold_report/dagRuns/{run['dag_run_id']}/taskInstances/report/xcomEntries/return_value"
            report = api.get(xcom)
            of_day = [e for e in silver_rows(events).values() if e.event_time.strftime("%Y-%m-%d") == ds]
            assert set(report["value"]["revenue"]) == {e.event_type for e in of_day}, (ds, report)
            # what the deferral left in the task's logs: the trigger's polls, then the confirmation
            logs = task_logs(airflow, "fanout_gold_report", run["dag_run_id"], "wait_for_gold")
            assert "waiting for 1 sink(s): gold" in logs["trigger"], ds
            assert "Pausing task as DEFERRED" in logs["task"] and "confirmed: gold (" in logs["task"], ds

        stream_versions = streaming_runs(airflow, lake, events)
        look_at_the_fanout_tab(airflow, lake, stream_versions)


def streaming_runs(airflow: Deployment, lake: Path, events: list[Event]) -> dict[str, int]:
    """The scheduled stream's first run reads every landing file; a manual run after one more
    file reads just that one; a run with nothing new writes nothing. Returns the tables' versions."""
    api = airflow.api
    api.unpause("fanout_streaming_available_now")
    airflow.wait_runs("fanout_streaming_available_now", 1)
    assert_tables(lake, events)
    more = generate_events(3, 50)
    write_landing_batch(lake / "landing", 3, more)
    api.trigger("fanout_streaming_available_now", datetime.now(timezone.utc).isoformat())
    runs = airflow.wait_runs("fanout_streaming_available_now", 2)
    assert_tables(lake, events + more)
    extras = {
        e["txn_app_id"]: e for e in api.run_asset_extras("fanout_streaming_available_now", runs[-1]["dag_run_id"])
    }
    assert set(extras) == {f"shop_events.{n}" for n in ("bronze", "silver", "gold")}, extras
    assert extras["shop_events.bronze"]["rows_inserted"] == len(more)
    assert extras["shop_events.bronze"]["table_version"] == version(paths(lake)["bronze"])
    versions = {name: version(p) for name, p in paths(lake).items()}

    # Nothing new: the run writes nothing and emits no Asset event to trigger anything downstream.
    api.trigger("fanout_streaming_available_now", datetime.now(timezone.utc).isoformat())
    idle = airflow.wait_runs("fanout_streaming_available_now", 3)[-1]
    assert {name: version(p) for name, p in paths(lake).items()} == versions
    assert api.run_asset_extras("fanout_streaming_available_now", idle["dag_run_id"]) == []
    return versions


def look_at_the_fanout_tab(airflow: Deployment, lake: Path, versions: dict[str, int]) -> None:
    """The streaming DAG's "Fan-out" tab in headless Chromium: the task's graph, each sink's table
    version and txn version (from the Delta logs) and the last run's rows (its XCom)."""
    with browser() as chromium:
        page = chromium.new_page(viewport={"width": 1500, "height": 1100})  # type: ignore[attr-defined]
        page.goto(f"{airflow.api.base}/dags/fanout_streaming_available_now/plugin/fanout-dag", wait_until="networkidle")
        # The React app adds the tab's iframe after it has fetched the plugins, which can come after
        # "networkidle" on a loaded machine: wait for the element, not for the network.
        ARTIFACTS.mkdir(exist_ok=True)
        try:
            tab = "iframe[src*='fanout/?dag_id=fanout_streaming_available_now']"
            iframe = page.wait_for_selector(tab, timeout=60_000)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "fanout-dag-tab-missing.png"), full_page=True)
            raise
        frame = iframe.content_frame()
        assert frame is not None
        task = frame.locator("section.task[data-task='fan_out']")
        task.wait_for(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "fanout-dag-tab.png"), full_page=True)
        for name, path in paths(lake).items():
            row = task.locator(f"tr[data-sink='{name}']")
            assert row.get_attribute("data-version") == str(versions[name]), name
            assert row.get_attribute("data-txn") == str(txn(path, f"shop_events.{name}")), name
            assert task.locator(f"svg g[data-sink='{name}']").count() == 1, name
        assert "last run: succeeded, 0 batch(es)" in task.inner_text()  # the idle one
        assert task.locator("svg [data-edge='sink:silver->sink:gold']").count() == 1


def task_logs(airflow: Deployment, dag_id: str, run_id: str, task_id: str) -> dict[str, str]:
    """The task's log files of try 1 under AIRFLOW_HOME: the worker's and the triggerer's."""
    folder = airflow.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    return {
        "task": (folder / "attempt=1.log").read_text(),
        "trigger": "".join(p.read_text() for p in folder.glob("attempt=1.log.trigger.*.log")),
    }


def parsed(dags: list[dict[str, Any]]) -> bool | None:
    return True if set(DAG_IDS) <= {d["dag_id"] for d in dags} else None


def deferred(states: dict[tuple[str, str], str]) -> list[str] | None:
    runs = [run for (run, task), state in states.items() if task == "wait_for_gold" and state == "deferred"]
    return runs or None
