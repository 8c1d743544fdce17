"""Per-sink results and the run report (JSON), built from Delta commit metrics, not extra counts."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

SinkStatus = Literal["written", "skipped"]


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

    def log_line(self, batch_id: int) -> str:
        if self.status == "skipped":
            return (
                f"batch {batch_id} sink {self.sink}: skipped, txn {self.txn_app_id} already at "
                f"version >= {self.txn_version} (table version {self.table_version})"
            )
        return (
            f"batch {batch_id} sink {self.sink}: {self.operation} {self.rows_written} rows -> "
            f"{self.target} version {self.table_version} txn {self.txn_app_id}@{self.txn_version} "
            f"in {self.duration_s:.2f}s"
        )


@dataclass
class BatchReport:
    batch_id: int
    txn_version: int
    sinks: list[SinkResult] = field(default_factory=list)
    duration_s: float = 0.0


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
                        "batches_written": 0,
                        "batches_skipped": 0,
                        "duration_s": 0.0,
                    },
                )
                t["rows_written"] += r.rows_written
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

    def write(self, path: str) -> str:
        """Write the report as JSON (atomically: temp file then rename); returns the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, target)
        return str(target)
