"""The confs a driver run gets from its master (no Spark: plain functions of the master string)."""

from __future__ import annotations

import os

import pytest

from airflow_fanout.submit import SNAPSHOT_PARTITIONS, local_cores, run_confs


@pytest.mark.parametrize(
    ("master", "cores"),
    [
        ("local", 1),
        ("local[2]", 2),
        ("local[3,4]", 3),
        ("local[*]", os.cpu_count() or 1),
        ("local-cluster[2,1,1024]", None),
        ("spark://host:7077", None),
        ("yarn", None),
        ("local[x]", None),
    ],
)
def test_local_cores(master: str, cores: int | None) -> None:
    assert local_cores(master) == cores


def test_local_run_rebuilds_delta_state_in_one_task_per_core() -> None:
    confs = run_confs("local[2]", delta=False)
    assert confs[SNAPSHOT_PARTITIONS] == "2"
    assert confs["spark.sql.shuffle.partitions"] == "4"


def test_local_cluster_master_keeps_the_fixed_local_default() -> None:
    assert run_confs("local-cluster[2,1,1024]", delta=False)[SNAPSHOT_PARTITIONS] == "4"


def test_cluster_run_keeps_the_cluster_defaults() -> None:
    confs = run_confs("spark://host:7077", delta=False)
    assert SNAPSHOT_PARTITIONS not in confs
    assert "spark.sql.shuffle.partitions" not in confs


def test_caller_confs_win_over_local_defaults() -> None:
    confs = run_confs("local[2]", delta=False, extra={SNAPSHOT_PARTITIONS: "8"})
    assert confs[SNAPSHOT_PARTITIONS] == "8"


def test_s3a_runs_get_the_connector_matching_sparks_hadoop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without resolved jars, ``hadoop-aws`` at the version of the Hadoop client jars pyspark
    ships (a mismatch fails at the first s3a:// access), next to Delta's coordinate."""
    from importlib.util import find_spec
    from pathlib import Path

    from airflow_fanout.delta_packages import delta_maven_coordinate, spark_hadoop_version

    monkeypatch.delenv("FANOUT_DELTA_JARS_DIR", raising=False)
    monkeypatch.delenv("FANOUT_S3A_JARS_DIR", raising=False)
    origin = find_spec("pyspark").origin  # type: ignore[union-attr]
    shipped = [p.name for p in (Path(str(origin)).parent / "jars").glob("hadoop-client-api-*.jar")]
    assert shipped == [f"hadoop-client-api-{spark_hadoop_version()}.jar"]
    confs = run_confs("yarn", s3a=True)
    packages = confs["spark.jars.packages"].split(",")
    assert packages == [delta_maven_coordinate(), f"org.apache.hadoop:hadoop-aws:{spark_hadoop_version()}"]
    assert run_confs("yarn")["spark.jars.packages"] == delta_maven_coordinate()
