"""Failures a production run meets, on real tables: a sink table deleted under a running stream,
an I/O error in one sink, bad records of every kind, and params carrying SQL."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from airflow_fanout.driver.report import BatchReport
from airflow_fanout.driver.runner import FanOutRun
from airflow_fanout.exceptions import RunError
from airflow_fanout.sample_data import EVENT_SCHEMA, generate_events
from airflow_fanout.spec import parse_spec
from tests.driver.helpers import json_stream_spec, rows, txn, version

pytestmark = pytest.mark.spark


def land_lines(landing: Path, batch: int, lines: list[str]) -> None:
    landing.mkdir(parents=True, exist_ok=True)
    target = landing / f"batch-{batch:04d}.json"
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.utime(target, (1_700_000_000 + batch, 1_700_000_000 + batch))


def land_events(landing: Path, batch: int, count: int = 40) -> list[str]:
    lines = [json.dumps(e.to_json()) for e in generate_events(batch, count, seed=5) if e.event_id is not None]
    land_lines(landing, batch, lines)
    return lines


def test_sink_table_deleted_under_a_running_stream_fails_naming_it(spark: Any, tmp_path: Path) -> None:
    for batch in range(2):
        land_events(tmp_path / "landing", batch)
    sinks = [
        {"name": "raw", "path": str(tmp_path / "raw"), "mode": "append"},
        {"name": "orders", "path": str(tmp_path / "orders"), "mode": "append", "where": "event_type = 'order'"},
    ]
    run = FanOutRun(spark, parse_spec(json_stream_spec(tmp_path, "gone", sinks)))

    def delete_orders(batch: BatchReport) -> None:
        if batch.batch_id == 0:
            shutil.rmtree(tmp_path / "orders")  # an operator "cleans up" the table mid-run

    run.on_batch = delete_orders
    with pytest.raises(RunError, match=r"sink 'orders': table .*orders was deleted while this run was writing it"):
        run.run()
    # Batch 1 wrote nothing anywhere: the orders table was not silently rebuilt from it alone.
    assert not (tmp_path / "orders").exists()
    assert version(str(tmp_path / "raw")) == 0 and txn(str(tmp_path / "raw"), "gone.raw") == 0
    assert "was deleted" in (run.report.error or "")


def test_io_error_in_one_sink_fails_the_batch_and_the_rerun_writes_nothing_twice(spark: Any, tmp_path: Path) -> None:
    """A full disk or a permission error reaches the driver the same way: an IOException from one
    sink's write. These tests run as root, where chmod cannot cause EACCES, so a regular file in
    the way of the table's folder causes the I/O error instead."""
    lines = land_events(tmp_path / "landing", 0)
    blocked = tmp_path / "disk"
    blocked.write_text("not a folder")
    sinks = [
        {"name": "first", "path": str(tmp_path / "first"), "mode": "append"},
        {"name": "broken", "path": str(blocked / "broken"), "mode": "append"},
        {"name": "third", "path": str(tmp_path / "third"), "mode": "append"},
    ]
    doc = json_stream_spec(tmp_path, "io", sinks)
    doc["run"]["max_parallel_sinks"] = 3
    with pytest.raises(RunError, match=r"sink 'broken', batch 0: write to .*disk/broken failed"):
        FanOutRun(spark, parse_spec(doc)).run()
    committed = {s: txn(str(tmp_path / s), f"io.{s}") for s in ("first", "third") if (tmp_path / s).exists()}
    assert committed, "the other sinks of the wave finished their writes"
    blocked.unlink()  # the disk is fixed
    rerun = FanOutRun(spark, parse_spec(doc))
    rerun.run()
    statuses = {r.sink: r.status for r in rerun.report.batches[0].sinks}
    assert statuses["broken"] == "written"
    assert all(statuses[s] == "skipped" for s in committed)
    for sink in ("first", "broken", "third"):
        path = str(blocked / sink) if sink == "broken" else str(tmp_path / sink)
        assert len(rows(path)) == len(lines), sink
        assert txn(path, f"io.{sink}") == 0


def test_bad_records_go_to_the_dead_letter_with_a_reason_and_every_row_is_counted(spark: Any, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    good = [json.dumps(e.to_json()) for e in generate_events(0, 30, seed=9) if e.event_id and e.amount >= 0]
    event = json.loads(good[0])
    bad_lines = {
        "malformed": '{"event_id": "m1", "amount": 3.5, "event_time": ',
        "not json": "this is not json at all",
        "wrong type": json.dumps({**event, "event_id": "w1", "amount": "lots"}),
        "null id": json.dumps({**event, "event_id": None}),
        "huge amount": json.dumps({**event, "event_id": "h1"}).replace(str(event["amount"]), "1e400"),
        "huge user": json.dumps({**event, "event_id": "h2", "user_id": "u" * 100_000}),
        "no type": json.dumps({**event, "event_id": "d1", "event_type": None}),
    }
    batches = [good[:12] + list(bad_lines.values()), [*good[12:], bad_lines["malformed"], bad_lines["null id"]]]
    for number, lines in enumerate(batches):
        land_lines(landing, number, lines)
    sinks = [
        {
            "name": "events",
            "path": str(tmp_path / "events"),
            "mode": "append",
            "expect": [
                {"name": "has_id", "check": "event_id IS NOT NULL", "on_fail": "dead_letter"},
                {"name": "sane_amount", "check": "amount BETWEEN 0 AND 1e9", "on_fail": "dead_letter"},
                {"name": "short_user", "check": "length(user_id) <= 64", "on_fail": "dead_letter"},
                {"name": "typed", "check": "event_type IS NOT NULL", "on_fail": "drop"},
            ],
        }
    ]
    doc = json_stream_spec(tmp_path, "bad", sinks, dead_letter={"path": str(tmp_path / "dead")})
    doc["source"]["corrupt_records"] = "dead_letter"
    run = FanOutRun(spark, parse_spec(doc))
    run.run()

    for lines, batch in zip(batches, run.report.batches, strict=True):
        (sink,) = batch.sinks
        assert batch.source_dead_lettered is not None and sink.rows_in is not None
        assert len(lines) == batch.source_dead_lettered + sink.rows_in, "rows in == unparseable + parsed"
        assert sink.rows_in == sink.rows_passed + sink.rows_dropped + sink.rows_dead_lettered  # type: ignore[operator]
        assert sink.rows_passed == sink.rows_written
    first, second = run.report.batches
    assert first.source_dead_lettered == 3 and second.source_dead_lettered == 1  # malformed, not json, wrong type
    assert (first.sinks[0].rows_dead_lettered, first.sinks[0].rows_dropped) == (3, 1)
    assert len(rows(str(tmp_path / "events"))) == len(good)

    letters = rows(str(tmp_path / "dead"))
    raw = sorted(r["_raw"] for r in letters if r["_sink"] == "_source")
    unparseable = [bad_lines["malformed"], bad_lines["not json"], bad_lines["wrong type"], bad_lines["malformed"]]
    assert raw == sorted(unparseable)
    assert {r["_error_reason"] for r in letters if r["_sink"] == "_source"} == {"unparseable source record"}
    reasons = {(r["event_id"], r["_error_reason"], r["_batch_id"]) for r in letters if r["_sink"] == "events"}
    assert reasons == {(None, "has_id", 0), ("h1", "sane_amount", 0), ("h2", "short_user", 0), (None, "has_id", 1)}


PAYLOADS = [
    "u001' OR '1'='1",
    "u001'; DROP TABLE events; --",
    "x' UNION SELECT * FROM events --",
    "u001' /* comment */ OR user_id LIKE '%",
    "\\' OR 1=1 --",
]


def test_params_are_literals_an_injection_changes_nothing_but_the_value_compared(spark: Any, tmp_path: Path) -> None:
    events = [e for e in generate_events(0, 40, seed=3) if e.event_id]
    # One event per payload whose user_id IS the payload: the only rows a literal compare may match.
    planted: list[dict[str, Any]] = [
        {**events[i].to_json(), "event_id": f"planted-{i}", "user_id": payload} for i, payload in enumerate(PAYLOADS)
    ]
    land_lines(tmp_path / "landing", 0, [json.dumps(e.to_json()) for e in events] + [json.dumps(p) for p in planted])
    doc: dict[str, Any] = {
        "version": 1,
        "app_id": "inject",
        "source": {"format": "json", "path": str(tmp_path / "landing"), "schema": EVENT_SCHEMA},
        "run": {
            "mode": "batch",
            "checkpoint": str(tmp_path / "cp"),
            "slice": {"key": "user", "where": "user_id = :user"},
        },
        "sinks": [{"name": "events", "path": str(tmp_path / "events"), "mode": "append", "columns": {"who": ":user"}}],
    }
    FanOutRun(spark, parse_spec(doc, {"user": "u001"})).run()
    baseline = rows(str(tmp_path / "events"))
    assert baseline and {r["user_id"] for r in baseline} == {"u001"}
    for payload in PAYLOADS:
        doc["run"]["slice"]["key"] = f"p{PAYLOADS.index(payload)}"
        run = FanOutRun(spark, parse_spec(doc, {"user": payload}))
        run.run()
        # replaceWhere (a rendered, escaped literal) replaced only the rows with that exact user_id
        assert run.report.batches[0].sinks[0].rows_written == 1, payload
    after = rows(str(tmp_path / "events"))
    assert sorted(after, key=lambda r: r["event_id"]) == sorted(
        baseline + [{**_typed(p), "who": p["user_id"]} for p in planted], key=lambda r: r["event_id"]
    )


def _typed(record: dict[str, Any]) -> dict[str, Any]:
    """A landing record as delta-rs reads it back (timestamps and dates typed)."""
    from datetime import date, datetime

    out = dict(record)
    out["event_time"] = datetime.fromisoformat(record["event_time"].replace("Z", "+00:00"))
    out["event_date"] = date.fromisoformat(record["event_date"])
    return out
