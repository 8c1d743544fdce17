"""Schema evolution: a new column fails clearly without ``merge_schema``; with it, the rerun
completes the failed batch, adds the column, and duplicates nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_fanout.driver.runner import FanOutRun
from airflow_fanout.sample_data import generate_events, write_landing_batch
from airflow_fanout.spec import parse_spec
from tests.driver.helpers import json_stream_spec, rows

pytestmark = pytest.mark.spark


def spec(root: Path, **sink: Any) -> dict[str, Any]:
    return json_stream_spec(root, "evo", [{"name": "events", "path": str(root / "events"), "mode": "append", **sink}])


def test_new_column_needs_merge_schema_then_rerun_completes(spark: Any, tmp_path: Path) -> None:
    first, second = generate_events(0, 40), generate_events(1, 50)
    write_landing_batch(tmp_path / "landing", 0, first)
    FanOutRun(spark, parse_spec(spec(tmp_path))).run()

    write_landing_batch(tmp_path / "landing", 1, second)
    with_channel = {"columns": {"channel": "'web'"}}
    with pytest.raises(Exception, match=r"sink 'events', batch 1") as info:
        FanOutRun(spark, parse_spec(spec(tmp_path, **with_channel))).run()
    assert "column 'channel' (string) is not in the table (set merge_schema: true to add it)" in str(info.value)
    assert len(rows(str(tmp_path / "events"))) == len(first)

    FanOutRun(spark, parse_spec(spec(tmp_path, merge_schema=True, **with_channel))).run()
    written = rows(str(tmp_path / "events"))
    assert len(written) == len(first) + len(second)
    assert sum(1 for r in written if r["channel"] == "web") == len(second)
    assert sum(1 for r in written if r["channel"] is None) == len(first)
