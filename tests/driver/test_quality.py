"""Expectations and dead letters on real tables: drop, dead_letter, fail; counts per batch;
replays and slice reruns never duplicate dead letters; the built-in ``:batch_id`` param."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_fanout.driver.runner import FanOutRun
from airflow_fanout.exceptions import RunError
from airflow_fanout.sample_data import EVENT_SCHEMA, Event, generate_events, write_landing_batch
from airflow_fanout.spec import parse_spec
from tests.driver.helpers import json_stream_spec, rows, txn

pytestmark = pytest.mark.spark


def spec(root: Path, on_fail_amount: str = "dead_letter") -> dict[str, Any]:
    sinks: list[dict[str, Any]] = [
        {
            "name": "audit",
            "path": str(root / "audit"),
            "mode": "append",
            "columns": {"_batch_id": ":batch_id", "_processed_at": "current_timestamp()"},
        },
        {
            "name": "clean",
            "path": str(root / "clean"),
            "mode": "append",
            "expect": [
                {"name": "has_id", "check": "event_id IS NOT NULL", "on_fail": "drop"},
                {"name": "amount_not_negative", "check": "amount >= 0", "on_fail": on_fail_amount},
            ],
        },
    ]
    return json_stream_spec(root, "dq", sinks, dead_letter={"path": str(root / "dead_letter")})


def land(root: Path, batches: range) -> list[list[Event]]:
    out = []
    for b in batches:
        events = generate_events(b, 150)
        write_landing_batch(root / "landing", b, events)
        out.append(events)
    return out


def test_drop_and_dead_letter_with_counts_per_batch(spark: Any, tmp_path: Path) -> None:
    batches = land(tmp_path, range(2))
    run = FanOutRun(spark, parse_spec(spec(tmp_path)))
    run.run()

    events = [e for b in batches for e in b]
    dead = [e for e in events if e.amount < 0]
    dropped = [e for e in events if e.amount >= 0 and e.event_id is None]
    assert dead and dropped, "the generator must produce both kinds"
    clean = rows(str(tmp_path / "clean"))
    assert len(clean) == len(events) - len(dead) - len(dropped)
    assert all(r["event_id"] is not None and r["amount"] >= 0 for r in clean)

    letters = rows(str(tmp_path / "dead_letter"))
    assert sorted(r["amount"] for r in letters) == sorted(e.amount for e in dead)
    assert {r["_sink"] for r in letters} == {"clean"}
    assert all("amount_not_negative" in r["_error_reason"] for r in letters)
    both = [r for r in letters if r["event_id"] is None]
    assert all(r["_error_reason"] == "has_id, amount_not_negative" for r in both)
    assert {r["_batch_id"] for r in letters} == {0, 1}
    assert txn(str(tmp_path / "dead_letter"), "dq._dead_letter.clean") == 1

    for batch, report in zip(batches, run.report.batches, strict=True):
        result = next(r for r in report.sinks if r.sink == "clean")
        assert result.rows_in == len(batch)
        assert result.rows_in == result.rows_passed + result.rows_dropped + result.rows_dead_lettered  # type: ignore[operator]
        assert result.rows_dead_lettered == sum(1 for e in batch if e.amount < 0)
        assert result.rows_written == result.rows_passed  # append: what passed is what was written

    audit = rows(str(tmp_path / "audit"))
    assert sorted({r["_batch_id"] for r in audit}) == [0, 1]
    assert len(audit) == len(events)

    # Replay batch 1: neither the sink nor the dead letters are written twice.
    replay = FanOutRun(spark, parse_spec(spec(tmp_path)))
    frame = spark.read.schema(EVENT_SCHEMA).json(str(tmp_path / "landing" / "batch-0001.json"))
    replay.write_batch(frame, 1)
    assert len(rows(str(tmp_path / "dead_letter"))) == len(dead)
    assert len(rows(str(tmp_path / "clean"))) == len(clean)


def test_fail_expectation_fails_the_batch_naming_it(spark: Any, tmp_path: Path) -> None:
    land(tmp_path, range(1))
    with pytest.raises(Exception, match=r"expectation\(s\) amount_not_negative failed on \d+ row\(s\)"):
        FanOutRun(spark, parse_spec(spec(tmp_path, on_fail_amount="fail"))).run()
    assert not (tmp_path / "clean").exists()


def test_slice_rerun_replaces_its_dead_letters(spark: Any, tmp_path: Path) -> None:
    batches = land(tmp_path, range(1))
    doc = spec(tmp_path)
    doc["run"] = {"mode": "batch", "checkpoint": str(tmp_path / "cp"), "slice": {"key": "all", "where": "true"}}
    doc["source"].pop("options")
    for _ in range(2):
        FanOutRun(spark, parse_spec(doc)).run()
    letters = rows(str(tmp_path / "dead_letter"))
    assert len(letters) == sum(1 for e in batches[0] if e.amount < 0)
    assert {r["_slice"] for r in letters} == {"all"}
    assert txn(str(tmp_path / "dead_letter"), "dq._dead_letter.clean.all") == 1


def test_a_dead_letter_write_that_loses_the_race_to_create_the_table_is_tried_again(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two slices' first runs at once (an Airflow backfill's first unpause) both find no
    dead-letter table; Delta rejects the loser's commit (ProtocolChangedException). The loser looks
    at the table again and writes its letters once, next to the winner's."""
    import airflow_fanout.driver.dead_letters as module

    batches = land(tmp_path, range(1))
    doc = spec(tmp_path)
    doc["source"].pop("options")

    def slice_doc(key: str) -> dict[str, Any]:
        run = {"mode": "batch", "checkpoint": str(tmp_path / "cp"), "slice": {"key": key, "where": "true"}}
        return {**doc, "run": run}

    class ProtocolChangedException(Exception):  # what Delta raises, by name (driver.retry)
        pass

    real_save, calls = module.save, []  # type: ignore[attr-defined]

    def losing_the_race(writer: Any, ref: Any) -> None:
        calls.append(ref.target)
        if len(calls) == 1:  # the winner creates the table meanwhile; this first commit is refused
            FanOutRun(spark, parse_spec(slice_doc("winner"))).run()
            raise ProtocolChangedException("[DELTA_PROTOCOL_CHANGED] concurrent update")
        real_save(writer, ref)

    monkeypatch.setattr(module, "save", losing_the_race)
    FanOutRun(spark, parse_spec(slice_doc("loser"))).run()
    assert len(calls) == 3  # refused, the winner's, the loser's second try
    letters = rows(str(tmp_path / "dead_letter"))
    negative = sorted(e.amount for e in batches[0] if e.amount < 0)
    for key in ("winner", "loser"):
        assert sorted(r["amount"] for r in letters if r["_slice"] == key) == negative, key
        assert txn(str(tmp_path / "dead_letter"), f"dq._dead_letter.clean.{key}") == 0


def test_runerror_carries_sink(spark: Any, tmp_path: Path) -> None:
    land(tmp_path, range(1))
    doc = spec(tmp_path, on_fail_amount="fail")
    doc["run"] = {"mode": "batch", "checkpoint": str(tmp_path / "cp"), "slice": {"key": "k", "where": "true"}}
    with pytest.raises(RunError) as info:
        FanOutRun(spark, parse_spec(doc)).run()
    assert info.value.sink == "clean"


def test_unparseable_source_records_go_to_the_dead_letter_with_their_raw_text(spark: Any, tmp_path: Path) -> None:
    events = generate_events(0, 50)
    path = write_landing_batch(tmp_path / "landing", 0, events)
    broken = ['{"event_id": "x1", "amount": ', "not json at all", '{"event_id": "x2", "amount": "lots"}']
    path.write_text(path.read_text() + "\n".join(broken) + "\n")
    doc = spec(tmp_path)
    doc["source"]["corrupt_records"] = "dead_letter"
    FanOutRun(spark, parse_spec(doc)).run()
    letters = [r for r in rows(str(tmp_path / "dead_letter")) if r["_sink"] == "_source"]
    assert sorted(r["_raw"] for r in letters) == sorted(broken)
    assert {r["_error_reason"] for r in letters} == {"unparseable source record"}
    assert len(rows(str(tmp_path / "audit"))) == len(events)  # sinks see only the parsed rows
    assert txn(str(tmp_path / "dead_letter"), "dq._dead_letter._source") == 0
