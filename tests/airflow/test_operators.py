"""Operator flavours refuse the wrong spec when the DAG is parsed, and derive one Asset outlet per
sink table. (The operators run end to end in test_example_dags.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_fanout.examples.medallion import medallion_backfill_spec, medallion_stream_spec


def test_flavours_reject_the_wrong_spec_at_parse_time(tmp_path: Path) -> None:
    from airflow_fanout.operators.fanout import FanOutAvailableNowOperator, FanOutBackfillOperator

    with pytest.raises(ValueError, match=r"run\.mode 'stream' with trigger"):
        FanOutAvailableNowOperator(task_id="t", spec=medallion_backfill_spec(tmp_path))
    with pytest.raises(ValueError, match=r"needs a spec with run\.mode 'batch'"):
        FanOutBackfillOperator(task_id="t", spec=medallion_stream_spec(tmp_path))
    op = FanOutAvailableNowOperator(task_id="t", spec=medallion_stream_spec(tmp_path))
    assert [a.uri for a in op.outlets] == [f"file://{s['path']}" for s in medallion_stream_spec(tmp_path)["sinks"]]
    backfill = FanOutBackfillOperator(task_id="b", spec=medallion_backfill_spec(tmp_path))
    assert backfill.slice_key == "{{ ds }}" and len(backfill.outlets) == 3


def test_invalid_static_spec_fails_at_parse_time_with_its_path(tmp_path: Path) -> None:
    from airflow_fanout.exceptions import SpecError
    from airflow_fanout.operators.fanout import FanOutSubmitOperator

    doc = medallion_stream_spec(tmp_path)
    doc["sinks"][1]["merge"] = {}
    with pytest.raises(SpecError, match=r"sinks\[1\]\.merge\.keys: required for mode 'merge'"):
        FanOutSubmitOperator(task_id="t", spec=doc)


def test_a_spec_file_is_checked_when_the_dag_is_parsed_and_errors_name_dag_task_and_file(tmp_path: Path) -> None:
    import json

    from airflow.sdk import DAG

    from airflow_fanout.exceptions import SpecError
    from airflow_fanout.operators.fanout import FanOutSubmitOperator
    from airflow_fanout.sensors.delta_txn import DeltaTxnSensor

    specs = tmp_path / "specs"
    specs.mkdir()
    good, bad = medallion_stream_spec(tmp_path), medallion_stream_spec(tmp_path)
    bad["sinks"][1]["merge"] = {}
    (specs / "good.json").write_text(json.dumps(good))
    (specs / "bad.json").write_text(json.dumps(bad))
    with DAG("fanout_files", schedule=None, template_searchpath=[str(specs)]):
        op = FanOutSubmitOperator(task_id="write", spec="good.json")
        # the file's sinks are the task's outlets, read when the DAG is parsed
        assert [a.uri for a in op.outlets] == [f"file://{s['path']}" for s in good["sinks"]]
        with pytest.raises(SpecError) as info:
            FanOutSubmitOperator(task_id="write_bad", spec="bad.json")
        with pytest.raises(SpecError, match=r"DAG 'fanout_files', task 'confirm', spec file .*bad\.json"):
            DeltaTxnSensor(task_id="confirm", spec="bad.json", expected_version=0)
    message = str(info.value)
    assert f"DAG 'fanout_files', task 'write_bad', spec file {specs / 'bad.json'}" in message
    assert "sinks[1].merge.keys: required for mode 'merge'" in message
    # a file with Jinja in it is only checked once rendered, at run time
    (specs / "templated.json").write_text(json.dumps(good).replace("shop_events", "{{ params.app }}"))
    with DAG("fanout_templated", schedule=None, template_searchpath=[str(specs)]):
        assert FanOutSubmitOperator(task_id="write", spec="templated.json").outlets == []


def test_a_missing_spark_connection_says_what_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_fanout.hooks.fanout import FanOutHook

    monkeypatch.delenv("AIRFLOW_CONN_SPARK_DEFAULT", raising=False)
    with pytest.raises(
        Exception, match=r"AIRFLOW_CONN_SPARK_DEFAULT='\{\"conn_type\": \"spark\", \"host\": \"local\[\*\]\"\}'"
    ):
        FanOutHook("spark_default").master()


def test_extra_links_point_at_the_spark_application_and_the_fanout_page(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from airflow.sdk.bases.xcom import BaseXCom

    import airflow_fanout.operators.links as links
    from airflow_fanout.operators.fanout import FanOutSubmitOperator

    assert [link.name for link in FanOutSubmitOperator.operator_extra_links] == ["Spark UI", "Fan-out tables"]
    key = SimpleNamespace(dag_id="daily sales", task_id="write", run_id="r", try_number=1, map_index=-1)
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://airflow.example:8080/")
    assert links.FanOutTablesLink().get_link(None, ti_key=key) == (
        "http://airflow.example:8080/fanout/?dag_id=daily+sales&task_id=write"
    )
    pushed = {"app_id": "app-1", "ui": "http://driver:4040", "history": "http://hs:18080/history/app-1/"}
    monkeypatch.setattr(BaseXCom, "get_value", staticmethod(lambda *, ti_key, key: pushed))
    assert links.SparkUILink().get_link(None, ti_key=key) == "http://hs:18080/history/app-1/"
    pushed["history"] = ""
    assert links.SparkUILink().get_link(None, ti_key=key) == "http://driver:4040"
