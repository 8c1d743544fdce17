"""CDC: one MERGE applies inserts, updates and deletes; the latest change per key in a batch wins;
an older change never overwrites a newer one across batches; the audit log keeps every change."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

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
