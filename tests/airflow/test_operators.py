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
