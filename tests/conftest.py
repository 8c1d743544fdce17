"""Shared fixtures: one session-scoped local SparkSession with Delta for the whole run; a real S3
server (SeaweedFS, ``tests/s3/server.py``), one per test process, a folder of its bucket per test."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.s3.server import S3Server

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("FANOUT_DELTA_JARS_DIR", str(ROOT / ".ivy" / "jars"))
os.environ.setdefault("FANOUT_S3A_JARS_DIR", str(ROOT / ".ivy" / "s3a" / "jars"))
# Python workers (UDFs in tests) must run this interpreter, not whatever python3 is on PATH.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from pyspark.sql import SparkSession

    from airflow_fanout.delta_packages import delta_spark_confs, local_delta_jars

    if not local_delta_jars():
        pytest.fail("Delta jars are not resolved: run `make setup` (airflow-fanout fetch-jars --ivy .ivy)")
    builder = (
        SparkSession.builder.master("local[2]")
        .appName("airflow-fanout-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.databricks.delta.snapshotPartitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("warehouse")))
    )
    for key, value in delta_spark_confs().items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    yield session
    session.stop()


_buckets = itertools.count()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(tmp_path_factory.mktemp("s3")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _lake_bucket(s3_server: S3Server) -> str:
    return s3_server.create_bucket("lake")


@pytest.fixture
def s3_bucket(_lake_bucket: str) -> str:
    """A folder of its own for the test in the server's bucket: its ``s3a://`` URL."""
    return f"{_lake_bucket}/test-{next(_buckets)}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The kill loop first, then the other slow tests (stable order otherwise): with ``-n 2`` the
    longest ones start at once and overlap with the many short ones instead of running alone at
    the end."""
    items.sort(key=lambda item: (item.name != "test_random_kills_lose_nothing_and_double_nothing", not _slow(item)))


def _slow(item: pytest.Item) -> bool:
    return item.get_closest_marker("slow") is not None
