"""Every source format and trigger: parquet, csv, delta, table, rate; once and processing_time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_fanout.driver.runner import FanOutRun
from airflow_fanout.spec import parse_spec
from tests.driver.helpers import rows, txn

pytestmark = pytest.mark.spark
SCHEMA = "id BIGINT, kind STRING, amount DOUBLE"


def two_sink_spec(root: Path, source: dict[str, Any], run: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "version": 1,
        "app_id": "src",
        "source": source,
        "run": run or {"mode": "stream", "checkpoint": str(root / "cp"), "trigger": {"once": True}},
        "sinks": [
            {"name": "all_rows", "path": str(root / "all"), "mode": "append"},
            {
                "name": "big",
                "path": str(root / "big"),
                "mode": "merge",
                "where": "amount > 50",
                "merge": {"keys": ["id"]},
            },
        ],
    }


def sample(spark: Any) -> Any:
    return spark.createDataFrame([(i, "a" if i % 2 else "b", float(i * 10)) for i in range(10)], SCHEMA)


def check(root: Path) -> None:
    assert sorted(r["id"] for r in rows(str(root / "all"))) == list(range(10))
    assert sorted(r["id"] for r in rows(str(root / "big"))) == [6, 7, 8, 9]
    assert txn(str(root / "all"), "src.all_rows") == 0
    assert txn(str(root / "big"), "src.big") == 0


@pytest.mark.parametrize("fmt", ["parquet", "csv", "delta"])
def test_file_and_delta_sources_with_trigger_once(spark: Any, tmp_path: Path, fmt: str) -> None:
    data = tmp_path / "data"
    writer = sample(spark).write.mode("overwrite")
    if fmt == "csv":
        writer.option("header", "true").csv(str(data))
    else:
        writer.format(fmt).save(str(data))
    source: dict[str, Any] = {"format": fmt, "path": str(data)}
    if fmt in ("parquet", "csv"):
        source["schema"] = SCHEMA
    if fmt == "csv":
        source["options"] = {"header": True}
    FanOutRun(spark, parse_spec(two_sink_spec(tmp_path, source))).run()
    check(tmp_path)


def test_table_source_batch_slice_and_catalog_table_sink(spark: Any, tmp_path: Path) -> None:
    sample(spark).write.format("delta").mode("overwrite").saveAsTable("fanout_src_events")
    doc = two_sink_spec(
        tmp_path,
        {"format": "table", "table": "fanout_src_events"},
        {"mode": "batch", "checkpoint": str(tmp_path / "cp"), "slice": {"key": "all", "where": "id >= :lo"}},
    )
    doc["params"] = {"lo": 0}
    doc["sinks"][0] = {"name": "all_rows", "table": "fanout_all_rows", "mode": "append"}
    FanOutRun(spark, parse_spec(doc)).run()
    assert sorted(r["id"] for r in spark.table("fanout_all_rows").collect()) == list(range(10))
    assert sorted(r["id"] for r in rows(str(tmp_path / "big"))) == [6, 7, 8, 9]
    FanOutRun(spark, parse_spec(doc)).run()  # a new run of the slice replaces it
    assert spark.table("fanout_all_rows").count() == 10


def test_rate_source_with_processing_time_stops_after_timeout(spark: Any, tmp_path: Path) -> None:
    doc = two_sink_spec(
        tmp_path,
        {"format": "rate", "options": {"rowsPerSecond": 20}},
        {
            "mode": "stream",
            "checkpoint": str(tmp_path / "cp"),
            "trigger": {"processing_time": "1 second"},
            "timeout_seconds": 15,
        },
    )
    doc["sinks"] = [
        {"name": "ticks", "path": str(tmp_path / "ticks"), "mode": "append"},
        {"name": "evens", "path": str(tmp_path / "evens"), "mode": "append", "where": "value % 2 = 0"},
    ]
    run = FanOutRun(spark, parse_spec(doc))
    run.run()
    ticks = rows(str(tmp_path / "ticks"))
    evens = rows(str(tmp_path / "evens"))
    # How many ticks arrive depends on the machine's load; what was written must be consistent.
    assert run.report.batches, "no micro-batch ran"
    reported = sum(r.rows_written for b in run.report.batches for r in b.sinks if r.sink == "ticks")
    assert reported == len(ticks)
    assert len({r["value"] for r in ticks}) == len(ticks)  # no batch written twice
    assert sorted(r["value"] for r in evens) == sorted(r["value"] for r in ticks if r["value"] % 2 == 0)
    last = run.report.batches[-1].batch_id
    assert txn(str(tmp_path / "ticks"), "src.ticks") == last


def test_builtin_batch_id_in_replace_where(spark: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    sample(spark).write.mode("overwrite").parquet(str(data))
    doc = two_sink_spec(tmp_path, {"format": "parquet", "path": str(data), "schema": SCHEMA})
    doc["sinks"] = [
        {
            "name": "per_batch",
            "path": str(tmp_path / "per_batch"),
            "mode": "overwrite",
            "columns": {"_batch": ":batch_id"},
            "replace_where": "_batch = :batch_id",
        }
    ]
    FanOutRun(spark, parse_spec(doc)).run()
    written = rows(str(tmp_path / "per_batch"))
    assert sorted(r["id"] for r in written) == list(range(10))
    assert {r["_batch"] for r in written} == {0}
    assert txn(str(tmp_path / "per_batch"), "src.per_batch") == 0
