"""What the hook hands to the apache-spark provider's SparkSubmitHook (its command is built,
not run): a spec in S3 gets the S3A connector's jars and the storage connection's Hadoop confs,
and the caller's confs win over the connection's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_fanout.examples.medallion import medallion_stream_spec
from airflow_fanout.hooks.fanout import FanOutHook
from airflow_fanout.spec import parse_spec


def submit_confs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, lake: str, **hook: object) -> dict[str, str]:
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", json.dumps({"conn_type": "spark", "host": "local[2]"}))
    s3a_jars = tmp_path / "s3a-jars"
    s3a_jars.mkdir(exist_ok=True)
    (s3a_jars / "org.apache.hadoop_hadoop-aws-3.5.0.jar").write_bytes(b"")
    monkeypatch.setenv("FANOUT_S3A_JARS_DIR", str(s3a_jars))
    spec = parse_spec(medallion_stream_spec(lake))
    submit = FanOutHook(**hook).build_submit_hook(spec, "/tmp/spec.json", "/tmp/report.json")  # type: ignore[arg-type]
    return dict(submit._conf)


def test_a_spec_in_s3_gets_the_connector_and_the_connections_confs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    conn = {
        "conn_type": "aws",
        "login": "AKIA-TEST",
        "password": "secret-test",
        "extra": {"endpoint_url": "http://127.0.0.1:9000", "region_name": "eu-west-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_LAKE_S3", json.dumps(conn))
    confs = submit_confs(
        monkeypatch,
        tmp_path,
        "s3a://lake/shop",
        storage_conn_id="lake_s3",
        conf={"spark.hadoop.fs.s3a.endpoint.region": "x"},
    )
    assert confs["spark.hadoop.fs.s3a.access.key"] == "AKIA-TEST"
    assert confs["spark.hadoop.fs.s3a.secret.key"] == "secret-test"
    assert confs["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:9000"
    assert confs["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert confs["spark.hadoop.fs.s3a.endpoint.region"] == "x"  # the operator's conf wins
    assert "hadoop-aws-3.5.0.jar" in confs["spark.jars"]


def test_a_local_spec_gets_neither(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    confs = submit_confs(monkeypatch, tmp_path, str(tmp_path / "lake"))
    assert "hadoop-aws" not in confs.get("spark.jars", "") + confs.get("spark.jars.packages", "")
    assert not [k for k in confs if k.startswith("spark.hadoop.fs.s3a.")]


def parsed(command: list[str]) -> tuple[str, set[str], dict[str, str], list[str]]:
    """(master, confs, other flags, application and its args) of a spark-submit command."""
    master, confs, flags = "", set(), {}
    rest = command[1:]
    while rest and rest[0].startswith("--"):
        flag = rest.pop(0)
        if flag == "--verbose":
            flags[flag] = ""
            continue
        value = rest.pop(0)
        if flag == "--master":
            master = value
        elif flag == "--conf":
            confs.add(value)
        else:
            flags[flag] = value
    return master, confs, flags, rest


OPTIONS = {
    "deploy_mode": "cluster",
    "executor_memory": "4g",
    "executor_cores": 2,
    "num_executors": 8,
    "driver_memory": "2g",
    "yarn_queue": "etl",
    "keytab": "/etc/etl.keytab",
    "principal": "etl@EXAMPLE.COM",
    "properties_file": "/etc/spark/etl.conf",
    "files": "/etc/spark/extra.xml",
}


def test_the_cli_and_the_hook_submit_the_same_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """One builder (``driver_submission``), two renderings: the CLI's command line and the
    provider's own ``SparkSubmitHook`` command from ``hook_kwargs()`` say the same thing. YARN
    cluster mode: the local spec travels with ``--files`` and the driver finds it by name; the
    report goes beside the object-store checkpoint."""
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    from airflow_fanout.submit import driver_submission

    monkeypatch.setenv("AIRFLOW_CONN_SPARK_YARN", json.dumps({"conn_type": "spark", "host": "yarn"}))
    report = "s3a://lake/shop/_checkpoints/shop_events/_fanout/reports/runs/r1/attempt-1.json"
    submission = driver_submission(
        str(tmp_path / "spec.json"),
        master="yarn",
        app_name="fanout-shop_events",
        report=report,
        confs={"spark.hadoop.fs.s3a.endpoint": "http://s3:8333"},
        s3a=True,
        py_files="/opt/airflow_fanout-driver.zip",
        options=OPTIONS,
    )
    cli = submission.command(binary="spark-submit")
    hook = SparkSubmitHook(conn_id="spark_yarn", **submission.hook_kwargs())  # type: ignore[arg-type]
    provider = hook._build_spark_submit_command(submission.application)
    assert parsed(cli) == parsed(provider)

    master, confs, flags, tail = parsed(cli)
    assert master == "yarn" and "spark.hadoop.fs.s3a.endpoint=http://s3:8333" in confs
    assert flags["--deploy-mode"] == "cluster" and flags["--queue"] == "etl" and flags["--num-executors"] == "8"
    assert flags["--keytab"] == "/etc/etl.keytab" and flags["--principal"] == "etl@EXAMPLE.COM"
    assert flags["--files"] == f"/etc/spark/extra.xml,{tmp_path / 'spec.json'}"
    assert tail[1:] == ["--spec", "spec.json", "--report", report]  # found in the YARN container's folder


def test_a_spec_stored_in_the_lake_is_passed_as_is_for_kubernetes() -> None:
    from airflow_fanout.submit import driver_submission

    spec = "s3a://lake/shop/_checkpoints/shop_events/_fanout/specs/abc.json"
    submission = driver_submission(
        spec, master="k8s://https://k8s:6443", app_name="fanout-x", options={"deploy_mode": "cluster"}
    )
    _, _, flags, tail = parsed(submission.command(binary="spark-submit"))
    assert "--files" not in flags and tail[1:] == ["--spec", spec]


def test_unknown_submit_options_fail_when_the_dag_is_parsed() -> None:
    from airflow_fanout.operators.fanout import FanOutAvailableNowOperator

    with pytest.raises(ValueError, match=r"unknown spark-submit option\(s\) \['executor_mem'\]"):
        FanOutAvailableNowOperator(
            task_id="t", spec=medallion_stream_spec("/tmp/l"), submit_options={"executor_mem": "4g"}
        )
    with pytest.raises(ValueError, match="deploy_mode 'remote'"):
        FanOutHook(submit_options={"deploy_mode": "remote"})
