"""CDC: one MERGE applies inserts, updates and deletes; the latest change per key in a batch wins;
an older change never overwrites a newer one across batches; the audit log keeps every change."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from airflow_fanout.driver.runner import FanOutRun
from airflow_fanout.spec import parse_spec
from tests.driver.helpers import json_stream_spec, rows, txn

pytestmark = pytest.mark.spark
SCHEMA = "customer_id STRING, name STRING, _seq LONG, _op STRING"
BATCHES: list[list[tuple[Any, ...]]] = [
    # several changes to c1 in one batch: the latest (_seq 2) wins
    [("c1", "Ann", 1, "INSERT"), ("c2", "Bob", 1, "INSERT"), ("c1", "Ann B.", 2, "UPDATE"), ("c3", "Cy", 1, "INSERT")],
    # c2 deleted; a stale c1 change (_seq 1 < 2) is ignored; c5 deleted before it ever existed
    [("c2", None, 2, "DELETE"), ("c1", "Stale", 1, "UPDATE"), ("c4", "Di", 1, "INSERT"), ("c5", None, 3, "DELETE")],
    [("c3", "Cyrus", 5, "UPDATE"), ("c4", "Dee", 2, "UPDATE"), ("c4", None, 3, "DELETE"), ("c6", "Eve", 1, "INSERT")],
]


def write_changes(folder: Path, batch: int, changes: list[tuple[Any, ...]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(dict(zip(("customer_id", "name", "_seq", "_op"), c, strict=True))) for c in changes]
    path = folder / f"changes-{batch}.json"
    path.write_text("\n".join(lines) + "\n")
    # The file source orders new files by modification time: make the change order explicit.
    os.utime(path, (1_700_000_000 + batch, 1_700_000_000 + batch))


def cdc_spec(root: Path) -> dict[str, Any]:
    sinks: list[dict[str, Any]] = [
        {
            "name": "customers",
            "path": str(root / "customers"),
            "mode": "merge",
            "merge": {"keys": ["customer_id"], "sequence_by": "_seq", "delete_when": "_op = 'DELETE'"},
        },
        {
            "name": "changes_audit",
            "path": str(root / "audit"),
            "mode": "append",
            "columns": {"_batch_id": ":batch_id", "_processed_at": "current_timestamp()"},
        },
    ]
    return json_stream_spec(root, "crm", sinks, schema=SCHEMA, folder="changes")


def test_cdc_merge_and_audit_log_across_batches(spark: Any, tmp_path: Path) -> None:
    for i, changes in enumerate(BATCHES):
        write_changes(tmp_path / "changes", i, changes)
    FanOutRun(spark, parse_spec(cdc_spec(tmp_path))).run()

    current = {r["customer_id"]: (r["name"], r["_seq"]) for r in rows(str(tmp_path / "customers"))}
    assert current == {"c1": ("Ann B.", 2), "c3": ("Cyrus", 5), "c6": ("Eve", 1)}
    audit = rows(str(tmp_path / "audit"))
    assert len(audit) == sum(len(b) for b in BATCHES)
    assert sorted((r["customer_id"], r["_seq"], r["_batch_id"]) for r in audit) == sorted(
        (c[0], c[2], i) for i, b in enumerate(BATCHES) for c in b
    )
    assert txn(str(tmp_path / "customers"), "crm.customers") == 2

    # Replaying the first batch (stale by now) must change nothing: the MERGE carries its txn id.
    from airflow_fanout.spec import parse_spec as parse

    replay = FanOutRun(spark, parse(cdc_spec(tmp_path)))
    replay.write_batch(spark.read.schema(SCHEMA).json(str(tmp_path / "changes" / "changes-0.json")), 0)
    after = {r["customer_id"]: (r["name"], r["_seq"]) for r in rows(str(tmp_path / "customers"))}
    assert after == current
    assert len(rows(str(tmp_path / "audit"))) == len(audit)


def first_seen_spec(root: Path) -> dict[str, Any]:
    """An insert-only MERGE (``when_matched: ignore``) next to a CDC sink whose first batch holds
    a delete: both tables are created by their first batch's append."""
    sinks: list[dict[str, Any]] = [
        {
            "name": "first_seen",
            "path": str(root / "first_seen"),
            "mode": "merge",
            "dedupe": {"keys": ["customer_id"], "order_by": "_seq ASC"},
            "merge": {"keys": ["customer_id"], "when_matched": "ignore"},
        },
        {
            "name": "customers",
            "path": str(root / "customers"),
            "mode": "merge",
            "merge": {"keys": ["customer_id"], "sequence_by": "_seq", "delete_when": "_op = 'DELETE'"},
        },
    ]
    return json_stream_spec(root, "crm", sinks, schema=SCHEMA, folder="changes")


def test_insert_only_merge_keeps_the_first_row_and_rewrites_no_file(spark: Any, tmp_path: Path) -> None:
    first = [("c1", "Ann", 1, "INSERT"), ("c2", "Bob", 1, "DELETE"), ("c1", "Ann B.", 2, "UPDATE")]
    write_changes(tmp_path / "changes", 0, first)
    write_changes(tmp_path / "changes", 1, [("c1", "Later", 3, "UPDATE"), ("c3", "Cy", 1, "INSERT")])
    FanOutRun(spark, parse_spec(first_seen_spec(tmp_path))).run()

    first_seen = str(tmp_path / "first_seen")
    assert {r["customer_id"]: r["name"] for r in rows(first_seen)} == {"c1": "Ann", "c2": "Bob", "c3": "Cy"}
    # Oldest first: version 0 is the first batch's append (no empty CREATE, no MERGE), then the
    # second batch's MERGE inserted c3 and neither updated nor rewrote anything.
    history = list(reversed(DeltaTable(first_seen).history()))
    assert [h["operation"] for h in history] == ["WRITE", "MERGE"]
    merged = {k: int(v) for k, v in history[1]["operationMetrics"].items()}
    assert (merged["numTargetRowsInserted"], merged["numTargetRowsUpdated"]) == (1, 0)
    assert merged["numTargetFilesRemoved"] == 0
    assert txn(first_seen, "crm.first_seen") == 1

    customers = str(tmp_path / "customers")
    # The first batch's delete of c2 (a key the new table never had) is not inserted by the append.
    assert {r["customer_id"]: (r["name"], r["_seq"]) for r in rows(customers)} == {"c1": ("Later", 3), "c3": ("Cy", 1)}
    assert [h["operation"] for h in reversed(DeltaTable(customers).history())] == ["WRITE", "MERGE"]
    assert txn(customers, "crm.customers") == 1


def test_first_batch_append_is_skipped_on_replay(spark: Any, tmp_path: Path) -> None:
    """The append that creates a MERGE sink's table carries the txn id like the MERGE would."""
    write_changes(tmp_path / "changes", 0, [("c1", "Ann", 1, "INSERT"), ("c2", "Bob", 1, "INSERT")])
    spec = parse_spec(first_seen_spec(tmp_path))
    FanOutRun(spark, spec).run()
    batch = spark.read.schema(SCHEMA).json(str(tmp_path / "changes" / "changes-0.json"))
    FanOutRun(spark, spec).write_batch(batch, 0)
    for name in ("first_seen", "customers"):
        assert DeltaTable(str(tmp_path / name)).version() == 0, name
        assert len(rows(str(tmp_path / name))) == 2, name


ORDERED_SCHEMA = "customer_id STRING, name STRING, _ts LONG, _seq LONG, _op STRING"
#: (customer_id, name, _ts, _op) per landing batch; _seq breaks ties and is unique
OUT_OF_ORDER: list[list[tuple[str, str | None, int, str]]] = [
    [("c1", "Ann", 1, "INSERT"), ("c2", "Vic", 1, "INSERT"), ("c3", "Cy", 5, "INSERT")],
    [("c1", None, 10, "DELETE"), ("c2", "Val", 3, "UPDATE"), ("c4", None, 4, "DELETE")],
    # stale: c1 older than its delete, c2 older than Val, c4 older than its delete; c3 joins vip
    [("c1", "Stale", 7, "UPDATE"), ("c2", "Bob", 2, "UPDATE"), ("c4", "Dee", 2, "INSERT"), ("c3", "Vera", 6, "UPDATE")],
    [("c1", "Ann", 12, "INSERT"), ("c3", "Carl", 8, "UPDATE")],  # c3 leaves vip
]


def out_of_order_spec(root: Path, retention: str = "7 days") -> dict[str, Any]:
    merge = {"keys": ["customer_id"], "sequence_by": ["_ts", "_seq"], "delete_when": "_op = 'DELETE'"}
    sinks: list[dict[str, Any]] = [
        {
            "name": "customers",
            "path": str(root / "customers"),
            "mode": "merge",
            "merge": {**merge, "tombstones": {"retention": retention}},
        },
        {"name": "history", "path": str(root / "history"), "mode": "merge", "merge": {**merge, "scd_type": 2}},
        {"name": "vip", "from": "customers", "path": str(root / "vip"), "mode": "merge", "where": "name LIKE 'V%'"},
    ]
    return json_stream_spec(root, "crm", sinks, schema=ORDERED_SCHEMA, folder="changes")


def test_tombstones_and_history_hold_whatever_the_arrival_order(spark: Any, tmp_path: Path) -> None:
    folder = tmp_path / "changes"
    folder.mkdir()
    seq = 0
    for i, batch in enumerate(OUT_OF_ORDER):
        lines = []
        for key, name, ts, op in batch:
            seq += 1
            lines.append(json.dumps({"customer_id": key, "name": name, "_ts": ts, "_seq": seq, "_op": op}))
        (folder / f"changes-{i}.json").write_text("\n".join(lines) + "\n")
        os.utime(folder / f"changes-{i}.json", (1_700_000_000 + i, 1_700_000_000 + i))
    FanOutRun(spark, parse_spec(out_of_order_spec(tmp_path))).run()

    # c1's stale update (ts 7) arrived after its delete (ts 10): the tombstone keeps it out;
    # c4's insert (ts 2) arrived after its delete (ts 4), which had deleted nothing.
    customers = {r["customer_id"]: (r["name"], r["_ts"]) for r in rows(str(tmp_path / "customers"))}
    assert customers == {"c1": ("Ann", 12), "c2": ("Val", 3), "c3": ("Carl", 8)}
    tombstones = {(r["customer_id"], r["_ts"]) for r in rows(str(tmp_path / "customers" / "_fanout_tombstones"))}
    assert tombstones == {("c1", 10), ("c4", 4)}
    assert txn(str(tmp_path / "customers" / "_fanout_tombstones"), "crm._tombstones.customers") == 3

    # SCD type 2: every version where its sequence puts it, ended by the next version or delete.
    history = sorted(
        (r["customer_id"], r["name"], r["__start_at"]["_ts"], r["__end_at"]["_ts"] if r["__end_at"] else None)
        for r in rows(str(tmp_path / "history"))
    )
    assert history == [
        ("c1", "Ann", 1, 7),
        ("c1", "Ann", 12, None),
        ("c1", "Stale", 7, 10),
        ("c2", "Bob", 2, 3),
        ("c2", "Val", 3, None),
        ("c2", "Vic", 1, 2),
        ("c3", "Carl", 8, None),
        ("c3", "Cy", 5, 6),
        ("c3", "Vera", 6, 8),
        ("c4", "Dee", 2, 4),
    ]

    # The view follows customers: c3 joined (Vera) and left (Carl), c2 moved from Vic to Val.
    assert {r["customer_id"]: r["name"] for r in rows(str(tmp_path / "vip"))} == {"c2": "Val"}

    # Tombstones past their retention are deleted when a run starts.
    time.sleep(1.1)
    FanOutRun(spark, parse_spec(out_of_order_spec(tmp_path, retention="1 second"))).run()
    assert rows(str(tmp_path / "customers" / "_fanout_tombstones")) == []
