"""Finding the Spark to submit with, and the Delta coordinate that follows it (no Spark runs)."""

from __future__ import annotations

import json
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

from airflow_fanout import delta_packages
from airflow_fanout.delta_packages import delta_maven_coordinate, delta_python_jar, spark_hadoop_version
from airflow_fanout.spark_install import INSTALL_HINT, SparkNotFoundError, spark_home, spark_version
from airflow_fanout.submit import driver_submission


def spark_distribution(root: Path, *, release: str | None, core_jar: str | None = None) -> Path:
    """A Spark distribution's layout (``bin/spark-submit``, ``jars/``, maybe ``RELEASE``)."""
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "spark-submit").write_text("#!/bin/sh\n")
    (root / "jars").mkdir()
    (root / "jars" / "hadoop-client-api-3.4.1.jar").write_bytes(b"")
    if release:
        (root / "RELEASE").write_text(release)
    if core_jar:
        (root / "jars" / core_jar).write_bytes(b"")
    return root


def test_spark_home_names_a_spark_home_without_spark_submit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARK_HOME", str(tmp_path))
    with pytest.raises(SparkNotFoundError) as err:
        spark_home()
    assert f"SPARK_HOME={tmp_path} has no bin/spark-submit" in str(err.value)
    assert INSTALL_HINT in str(err.value)


def test_pyspark_client_is_not_a_spark(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The apache-spark provider's pyspark-client installs a `pyspark` package with no
    spark-submit: finding it must end in what to install, not in a missing file later."""
    client = tmp_path / "site" / "pyspark"
    client.mkdir(parents=True)
    (client / "__init__.py").write_text("")
    monkeypatch.delenv("SPARK_HOME", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "pyspark", raising=False)  # find_spec answers from sys.modules first
    with pytest.raises(SparkNotFoundError) as err:
        spark_home()
    assert f"the pyspark package at {client} has no bin/spark-submit (it is pyspark-client" in str(err.value)
    assert "install `airflow-fanout[spark]`" in str(err.value)


def test_the_delta_coordinate_follows_the_spark_in_spark_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = spark_distribution(tmp_path / "spark-4.1.2", release="Spark 4.1.2 built for Hadoop 3.4.1\nBuild flags:\n")
    monkeypatch.setenv("SPARK_HOME", str(home))
    assert spark_version() == "4.1.2"
    delta = version("delta-spark")  # the wheel here still names Delta's version
    assert delta_maven_coordinate() == f"io.delta:delta-spark_4.1_2.13:{delta}"
    assert spark_hadoop_version() == "3.4.1"
    monkeypatch.setenv("FANOUT_DELTA_VERSION", "4.3.1")
    assert delta_maven_coordinate() == "io.delta:delta-spark_4.1_2.13:4.3.1"


def test_spark_version_from_the_core_jar_when_there_is_no_release_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = spark_distribution(tmp_path / "pip-like", release=None, core_jar="spark-core_2.13-4.0.1.jar")
    monkeypatch.setenv("SPARK_HOME", str(home))
    assert spark_version() == "4.0.1"
    (home / "jars" / "spark-core_2.13-4.0.1.jar").unlink()
    with pytest.raises(SparkNotFoundError, match="neither a RELEASE file nor a spark-core jar"):
        spark_version()


def test_without_the_delta_wheel_the_tested_delta_release_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = spark_distribution(tmp_path / "spark", release="Spark 4.2.0 built for Hadoop 3.4.2\n")
    monkeypatch.setenv("SPARK_HOME", str(home))
    monkeypatch.delenv("FANOUT_DELTA_VERSION", raising=False)

    def no_delta_wheel(name: str) -> str:
        raise PackageNotFoundError(name)

    # An Airflow worker without the [spark] extra (the install matrix runs this for real).
    monkeypatch.setattr(delta_packages, "version", no_delta_wheel)
    assert delta_maven_coordinate() == "io.delta:delta-spark_4.2_2.13:4.4.0"
    (home / "RELEASE").write_text("Spark 3.5.7 built for Hadoop 3.3.4\n")
    with pytest.raises(SparkNotFoundError, match=r"no Delta release is known for Spark 3\.5 .*FANOUT_DELTA_VERSION"):
        delta_maven_coordinate()


def test_delta_python_api_ships_from_the_jar_only_where_it_is_not_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jars = [
        str(tmp_path / "io.delta_delta-storage-4.4.0.jar"),
        str(tmp_path / "io.delta_delta-spark_4.2_2.13-4.4.0.jar"),
    ]
    assert delta_python_jar(jars) is None  # delta-spark is installed here (the [spark] extra)
    for jar in jars:
        Path(jar).write_bytes(b"")
    monkeypatch.setenv("FANOUT_DELTA_JARS_DIR", str(tmp_path))
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "delta" else real_find_spec(name))
    assert delta_python_jar(jars) == jars[1]
    submission = driver_submission("/tmp/spec.json", master="local[1]", app_name="t", py_files="/tmp/driver.zip")
    assert submission.py_files == f"/tmp/driver.zip,{jars[1]}"
    assert submission.command()[submission.command().index("--py-files") + 1] == submission.py_files


def test_the_cli_says_what_to_install_instead_of_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_fanout.cli import main
    from airflow_fanout.examples.medallion import medallion_backfill_spec

    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(medallion_backfill_spec(tmp_path)))
    monkeypatch.setenv("SPARK_HOME", str(tmp_path / "nowhere"))
    assert main(["run", str(spec)]) == 1
    assert f"error: SPARK_HOME={tmp_path / 'nowhere'} has no bin/spark-submit: install" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["spec.json"]  # nothing ran, nothing written
