"""Through real spark-submit: two runs of one spec at once, and credentials kept out of what the
driver prints and writes."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_fanout.sample_data import EVENT_SCHEMA
from airflow_fanout.submit import run_driver, submit_command, submit_env
from tests.driver.helpers import rows, txn, version
from tests.reliability.killloop import DriverProcess, land_batch

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def small_spec(root: Path, **source_options: str) -> dict[str, Any]:
    return {
        "version": 1,
        "app_id": "twice",
        "source": {
            "format": "json",
            "path": str(root / "landing"),
            "schema": EVENT_SCHEMA,
            "options": {"maxFilesPerTrigger": 1, **source_options},
        },
        "run": {"mode": "stream", "trigger": {"available_now": True}, "checkpoint": str(root / "cp")},
        "sinks": [
            {"name": "raw", "path": str(root / "raw"), "mode": "append"},
            {
                "name": "latest",
                "path": str(root / "latest"),
                "mode": "merge",
                "where": "event_id IS NOT NULL",
                "dedupe": {"keys": ["event_id"]},
                "merge": {"keys": ["event_id"]},
            },
        ],
    }


def test_a_second_run_of_the_same_spec_fails_fast_and_the_first_writes_once(tmp_path: Path) -> None:
    lines = sum(len(land_batch(tmp_path / "landing", b).read_text().splitlines()) for b in (0, 2, 3))
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(small_spec(tmp_path)))
    first = DriverProcess(spec_path, tmp_path / "first.json")
    lock = tmp_path / "cp" / "_fanout" / "locks" / "stream.lock"
    deadline = time.monotonic() + 120
    while not lock.exists():
        assert first.proc.poll() is None and time.monotonic() < deadline, "".join(first.lines[-20:])
        time.sleep(0.2)
    holder = json.loads(lock.read_text())["pid"]

    started = time.monotonic()
    code, report = run_driver(submit_command(str(spec_path), master="local[1]"), echo=False)
    refused_in = time.monotonic() - started
    assert code == 3
    assert report is not None
    refused = json.loads(Path(report).read_text())
    assert refused["status"] == "failed" and refused["batches"] == []
    assert f"another run of app twice is in progress: pid {holder} on host" in refused["error"]
    assert first.proc.poll() is None, "the first run goes on"

    assert first.finish(600) == 0, "".join(first.lines[-30:])
    assert not lock.exists(), "released at the end of the run"
    raw = rows(str(tmp_path / "raw"))
    assert len(raw) == lines  # written once, by the first run
    keys = [r["event_id"] for r in rows(str(tmp_path / "latest"))]
    assert len(keys) == len(set(keys))
    assert txn(str(tmp_path / "raw"), "twice.raw") == 2
    print(f"second run refused in {refused_in:.1f}s")

    before = version(str(tmp_path / "raw"))
    code, _ = run_driver(submit_command(str(spec_path), master="local[1]"), echo=False)
    assert code == 0 and version(str(tmp_path / "raw")) == before  # the lock is free; nothing new


SECRETS = {
    "password": "pw-hunter2-7781",
    "kafka.sasl.jaas.config": 'PlainLoginModule required username="u" password="jaas-secret-5531";',
    "fs.s3a.secret.key": "s3-secret-key-0042",
}


def test_credentials_in_options_never_reach_the_output_or_the_report(tmp_path: Path) -> None:
    land_batch(tmp_path / "landing", 0)
    doc = small_spec(tmp_path, **SECRETS)
    doc["sinks"][0]["options"] = {"fs.azure.account.key.acct.dfs.core.windows.net": "az-account-key-9"}
    # An error whose message quotes a credential (as a JDBC or Kafka error can quote its options).
    doc["sinks"][1]["where"] = (
        f"raise_error('login failed for pw-hunter2-7781 with {SECRETS['fs.s3a.secret.key']}') IS NULL"
    )
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(doc))
    report_path = tmp_path / "report.json"
    # Spark's own log lines (log4j) mask only confs, not data or SQL text: silence them here so the
    # test sees every line the driver itself prints.
    done = subprocess.run(
        submit_command(str(spec_path), master="local[1]", report=str(report_path), spark_log="OFF"),
        env=submit_env(),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1
    report = report_path.read_text()
    for secret in [*SECRETS.values(), "az-account-key-9", "pw-hunter2-7781", "jaas-secret-5531"]:
        assert secret not in output, secret
        assert secret not in report, secret
    assert "'password': '***'" in output and "'kafka.sasl.jaas.config': '***'" in output
    assert "'fs.azure.account.key.acct.dfs.core.windows.net': '***'" in output
    assert "login failed for *** with ***" in json.loads(report)["error"]
