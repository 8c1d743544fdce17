"""SIGKILL the driver's spark-submit process group at random (seeded) moments, rerun it to
completion, and compare every table with a clean run: same rows, no duplicate keys, same
aggregates, same dead letters; every sink's txn version at its run's last batch. ``make soak``
runs the same loop with 200 kills (``FANOUT_KILLS`` sets the number here)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from airflow_fanout.driver.runner import FanOutRun
from airflow_fanout.spec import parse_spec
from tests.reliability.killloop import kill_loop, kill_spec

pytestmark = [pytest.mark.slow, pytest.mark.spark]

KILLS = int(os.environ.get("FANOUT_KILLS", "25"))
SEED = int(os.environ.get("FANOUT_KILL_SEED", "20261127"))


@pytest.mark.timeout(max(2400, KILLS * 60))  # cold spark-submit starts, the other worker busy
def test_random_kills_lose_nothing_and_double_nothing(spark: Any, tmp_path: Path) -> None:
    def clean_run(root: Path) -> None:
        """The reference run, no kills, every file in one micro-batch: the same driver code in
        the test's warm SparkSession (a spark-submit run gives the same tables, only slower;
        see killloop.main)."""
        FanOutRun(spark, parse_spec(kill_spec(root, one_batch=True))).run()

    result = kill_loop(tmp_path, KILLS, SEED, clean_run=clean_run)
    (tmp_path / "kill-loop.json").write_text(json.dumps(asdict(result), indent=2))
    print(result.summary())
    assert result.kills >= KILLS
    # The kills must land inside batches, not only while Spark starts.
    assert result.kills_after_a_commit >= KILLS // 3, result.summary()
    assert set(result.rows_compared) == {"bronze", "refunds", "silver", "users", "gold", "big_spenders", "dead_letter"}
    assert result.mismatches == [], "\n".join([result.summary(), *result.mismatches])
