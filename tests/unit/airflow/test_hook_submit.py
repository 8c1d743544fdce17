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
