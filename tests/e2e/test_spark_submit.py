"""The driver through real spark-submit, as users run it (``airflow-fanout run``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_fanout.examples.medallion import medallion_stream_spec
from airflow_fanout.sample_data import generate_events, write_landing_batch
from tests.driver.helpers import rows, txn, version
from tests.expected import gold_rows, silver_rows

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "airflow_fanout.cli"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=600)


def test_run_through_spark_submit_then_rerun_writes_nothing(tmp_path: Path) -> None:
    events = []
    for b in range(2):
        batch = generate_events(b, 80)
        write_landing_batch(tmp_path / "landing", b, batch)
        events += batch
    doc = medallion_stream_spec(tmp_path)
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(doc))
    report_path = tmp_path / "report.json"

    done = cli("run", str(spec_path), "--master", "local[2]", "--report", str(report_path))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == str(report_path)
    report = json.loads(report_path.read_text())
    assert report["status"] == "succeeded"
    assert report["sinks"]["bronze"]["rows_written"] == len(events)
    assert report["sinks"]["gold"]["txn_app_id"] == "shop_events.gold"
    for totals in report["sinks"].values():  # what the operator pushes to XCom, per sink
        assert set(totals) >= {"rows_written", "table_version", "txn_app_id", "txn_version", "duration_s"}
        assert totals["duration_s"] > 0
    # A quiet terminal: a progress line per batch, no Spark INFO lines, warnings tagged
    lines = done.stderr.splitlines()
    assert sum(1 for line in lines if line.startswith("batch ") and " done: " in line) == 2, lines
    assert not any(" INFO " in line for line in lines), lines
    assert all(line.startswith(("batch ", "run ", "stream ", "spark application ", "WARNING: ")) for line in lines)

    paths = {s["name"]: s["path"] for s in doc["sinks"]}
    assert len(rows(paths["bronze"])) == len(events)
    assert len(rows(paths["silver"])) == len(silver_rows(events))
    assert len(rows(paths["gold"])) == len(gold_rows(events))
    assert txn(paths["silver"], "shop_events.silver") == 1
    before = {n: version(p) for n, p in paths.items()}

    status = cli("status", str(spec_path))
    assert status.returncode == 0, status.stderr
    silver_line = next(line for line in status.stdout.splitlines() if line.startswith("silver "))
    assert silver_line.split()[1:5] == [paths["silver"], str(version(paths["silver"])), "shop_events.silver", "1"]
    assert silver_line.split()[5:6] == ["-"]  # not a view
    assert silver_line.split()[6].startswith("20")  # last commit time, ISO 8601
    gold_line = next(line for line in status.stdout.splitlines() if line.startswith("gold "))
    at = version(paths["silver"])
    # gold is a view: its txn version is the silver version it equals, here silver's latest
    assert gold_line.split()[3:9] == ["shop_events.gold", str(at), "silver", f"v{at}", "of", str(at)]

    again = cli("run", str(spec_path), "--master", "local[2]")
    assert again.returncode == 0, again.stderr[-3000:]
    assert {n: version(p) for n, p in paths.items()} == before
    assert len(rows(paths["bronze"])) == len(events)


def test_invalid_spec_exits_2_before_spark_and_writes_nothing(tmp_path: Path) -> None:
    doc = medallion_stream_spec(tmp_path)
    doc["sinks"][1]["merge"] = {}
    doc["sinks"][0]["mode"] = "upsert"
    spec_path = tmp_path / "bad.json"
    spec_path.write_text(json.dumps(doc))
    for args in (["validate", str(spec_path)], ["run", str(spec_path)]):
        done = cli(*args)
        assert done.returncode == 2
        assert "sinks[0].mode" in done.stderr
    doc["sinks"][0]["mode"] = "append"
    spec_path.write_text(json.dumps(doc))
    done = cli("run", str(spec_path))
    assert done.returncode == 2
    assert "sinks[1].merge.keys: required for mode 'merge'" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json"]


def test_driver_rejects_sql_spark_cannot_parse(tmp_path: Path) -> None:
    from airflow_fanout.submit import run_driver, submit_command

    doc = medallion_stream_spec(tmp_path)
    doc["sinks"][0]["where"] = "event_id IS NOT NOT NULL"
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(doc))
    code, _ = run_driver(submit_command(str(spec_path), master="local[1]"), echo=False)
    assert code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.json"]
