"""Per-sink results and the run report (JSON), built from Delta commit metrics, not extra counts."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from airflow_fanout.spec.secrets import redact

if TYPE_CHECKING:
    from airflow_fanout.driver.quality import QualityCounts

SinkStatus = Literal["written", "skipped"]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class SinkResult:
    """What happened to one sink in one batch."""

    sink: str
    target: str
    txn_app_id: str
    txn_version: int
    status: SinkStatus
    table_version: int | None
    rows_written: int
    duration_s: float
    operation: str | None = None
    metrics: dict[str, int] = field(default_factory=dict)
    #: with expectations: rows in == rows_passed + rows_dropped + rows_dead_lettered
    rows_in: int | None = None
    rows_passed: int | None = None
    rows_dropped: int | None = None
    rows_dead_lettered: int | None = None
    #: a view: its upstream, the changes it applied, and how they were read (rows/feed/rebuild)
    view: dict[str, str] | None = None

    def add_counts(self, counts: QualityCounts | None) -> None:
        if counts is not None:
            self.rows_in, self.rows_passed = counts.rows_in, counts.passed
            self.rows_dropped, self.rows_dead_lettered = counts.dropped, counts.dead_lettered

    def row_changes(self) -> tuple[int, int, int]:
        """Rows inserted, updated and deleted by the commit (a MERGE's metrics; an append's
        output rows are inserts)."""
        m = self.metrics
        if self.operation == "MERGE":
            return m.get("numTargetRowsInserted", 0), m.get("numTargetRowsUpdated", 0), m.get("numTargetRowsDeleted", 0)
        return m.get("numOutputRows", 0), 0, m.get("numDeletedRows", 0)

    def log_line(self, batch_id: int) -> str:
        if self.status == "skipped":
            return (
                f"batch {batch_id} sink {self.sink}: skipped, txn {self.txn_app_id} already at "
                f"version >= {self.txn_version} (table version {self.table_version})"
            )
        quality = ""
        if self.rows_in is not None:
            quality = (
                f" (in {self.rows_in}, passed {self.rows_passed}, dropped {self.rows_dropped}, "
                f"dead-lettered {self.rows_dead_lettered})"
            )
        return (
            f"batch {batch_id} sink {self.sink}: {self.operation} {self.rows_written} rows{quality} -> "
            f"{self.target} version {self.table_version} txn {self.txn_app_id}@{self.txn_version} "
            f"in {self.duration_s:.2f}s"
        )


@dataclass
class BatchReport:
    batch_id: int
    txn_version: int
    sinks: list[SinkResult] = field(default_factory=list)
    duration_s: float = 0.0
    #: with ``source.corrupt_records: dead_letter``: unparseable records sent to the dead letters
    #: (None when skipped as a replay); rows in == this + the rows the sinks read from the source
    source_dead_lettered: int | None = None


@dataclass
class RunReport:
    app_id: str
    mode: str
    slice_key: str | None
    started_at: str
    finished_at: str | None = None
    status: str = "running"
    error: str | None = None
    batches: list[BatchReport] = field(default_factory=list)

    def sink_totals(self) -> dict[str, dict[str, Any]]:
        """Per sink: rows written over the run, last table version and txn version."""
        totals: dict[str, dict[str, Any]] = {}
        for batch in self.batches:
            for r in batch.sinks:
                t = totals.setdefault(
                    r.sink,
                    {
                        "target": r.target,
                        "rows_written": 0,
                        "rows_inserted": 0,
                        "rows_updated": 0,
                        "rows_deleted": 0,
                        "batches_written": 0,
                        "batches_skipped": 0,
                        "duration_s": 0.0,
                    },
                )
                t["rows_written"] += r.rows_written
                inserted, updated, deleted = r.row_changes()
                t["rows_inserted"] += inserted
                t["rows_updated"] += updated
                t["rows_deleted"] += deleted
                if r.rows_in is not None:
                    for key in ("rows_in", "rows_passed", "rows_dropped", "rows_dead_lettered"):
                        t[key] = t.get(key, 0) + (getattr(r, key) or 0)
                t["duration_s"] = round(t["duration_s"] + r.duration_s, 3)
                t["batches_written" if r.status == "written" else "batches_skipped"] += 1
                t["table_version"] = r.table_version
                t["txn_app_id"] = r.txn_app_id
                t["txn_version"] = r.txn_version
        return totals

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["sinks"] = self.sink_totals()
        return doc

    def write(self, path: str, secrets: Iterable[str] = ()) -> str:
        """Write the report as JSON (atomically: temp file then rename), with every value in
        ``secrets`` masked (an error message can quote an option); returns the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"
        tmp.write_text(redact_json(text, secrets), encoding="utf-8")
        os.replace(tmp, target)
        return str(target)


def redact_json(text: str, secrets: Iterable[str]) -> str:
    """Mask secrets in JSON text, also where ``json.dumps`` escaped them (quotes, backslashes)."""
    for secret in secrets:
        escaped = json.dumps(secret)[1:-1]
        text = redact(text, [escaped, secret] if escaped != secret else [secret])
    return text
