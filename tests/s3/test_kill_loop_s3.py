"""The kill loop (``tests/reliability/killloop.py``) with the killed run's tables, dead letters
and stream checkpoint in a real S3 server: SIGKILLs at random moments, a rerun to completion,
then every table compared with a clean run on local disk. Fewer kills than the local loop
(``FANOUT_S3_KILLS``, default 4): the local loop covers the moments, this one the store."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from airflow_fanout.driver.runner import FanOutRun
from airflow_fanout.spec import parse_spec
from tests.reliability.killloop import Lake, kill_loop, kill_spec
from tests.s3.server import S3Server

pytestmark = [pytest.mark.slow, pytest.mark.spark]
KILLS = int(os.environ.get("FANOUT_S3_KILLS", "4"))


@pytest.mark.timeout(max(1200, KILLS * 90))
def test_random_kills_on_s3_lose_nothing_and_double_nothing(
    spark: Any, s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    def clean_run(root: Path) -> None:  # the reference, local, in the test's warm SparkSession
        FanOutRun(spark, parse_spec(kill_spec(root, one_batch=True))).run()

    lake = Lake(s3_bucket, s3_server.storage_options, s3_server.spark_confs)
    result = kill_loop(tmp_path, KILLS, seed=20261201, clean_run=clean_run, where=lake)
    (tmp_path / "kill-loop-s3.json").write_text(json.dumps(asdict(result), indent=2))
    print(result.summary())
    assert result.kills >= KILLS and result.kills_after_a_commit >= 1, result.summary()
    assert set(result.rows_compared) == {"bronze", "refunds", "silver", "users", "gold", "big_spenders", "dead_letter"}
    assert result.mismatches == [], "\n".join([result.summary(), *result.mismatches])
    assert lake.committed_batches(tmp_path / "killed"), "the checkpoint lives in S3"
