"""Per-sink results and the run report (JSON), built from Delta commit metrics, not extra counts."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from airflow_fanout.spec.secrets import redact

if TYPE_CHECKING:
    from airflow_fanout.driver.quality import QualityCounts

SinkStatus = Literal["written", "skipped"]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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
    #: skipped: the table version of the commit that had written this batch (an earlier attempt)
    committed_in: int | None = None
    #: in a report over several attempts (``merge_attempts``): the attempt whose commit this is,
    #: when not the last one
    committed_by_attempt: int | None = None

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> SinkResult:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in known})

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
            earlier = f", written by an earlier attempt in version {self.committed_in}" if self.committed_in else ""
            return (
                f"batch {batch_id} sink {self.sink}: skipped, txn {self.txn_app_id} already at "
                f"version >= {self.txn_version} (table version {self.table_version}{earlier})"
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

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> BatchReport:
        return cls(
            batch_id=int(doc["batch_id"]),
            txn_version=int(doc["txn_version"]),
            sinks=[SinkResult.from_dict(s) for s in doc.get("sinks", [])],
            duration_s=float(doc.get("duration_s", 0.0)),
            source_dead_lettered=doc.get("source_dead_lettered"),
        )


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
    #: the Spark application of the run, and its UI while it runs
    spark_app_id: str | None = None
    spark_ui: str | None = None

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
                if r.status == "written":  # a skipped entry may describe an earlier run's commit
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

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> RunReport:
        """A report as ``write`` wrote it (the ``sinks`` totals are recomputed, not read)."""
        known = {f.name for f in fields(cls)} - {"batches"}
        report = cls(**{k: v for k, v in doc.items() if k in known})
        report.batches = [BatchReport.from_dict(b) for b in doc.get("batches", [])]
        return report

    def summary(self, location: str | None = None) -> dict[str, Any]:
        """What fits in an XCom: the outcome, per-sink totals, where the full report is."""
        return {
            "app_id": self.app_id,
            "mode": self.mode,
            "slice_key": self.slice_key,
            "status": self.status,
            "error": self.error,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "batches": len(self.batches),
            "batch_ids": sorted({b.batch_id for b in self.batches}),
            "spark_app_id": self.spark_app_id,
            "spark_ui": self.spark_ui,
            "sinks": self.sink_totals(),
            "report": location,
        }

    def to_text(self, secrets: Iterable[str] = ()) -> str:
        """The report as JSON, with every value in ``secrets`` masked (an error message can
        quote an option)."""
        return redact_json(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", secrets)

    def write(self, path: str, secrets: Iterable[str] = ()) -> str:
        """Write the report as JSON (``to_text``) to a local path, atomically (temp file then
        rename); returns the path. ``driver.main`` writes to URLs through Hadoop instead."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(self.to_text(secrets), encoding="utf-8")
        os.replace(tmp, target)
        return str(target)


def merge_attempts(attempts: list[RunReport]) -> RunReport:
    """One run's report over its attempts (oldest first; the last is the one that finished): every
    batch any attempt committed, each sink's entry from the attempt that wrote it. A retry skips
    what a killed attempt committed; here those entries carry ``committed_by_attempt``, so the
    totals count the run's work once, whichever attempt did it."""
    if not attempts:
        raise ValueError("no attempt to merge")
    last = attempts[-1]
    merged = RunReport(
        app_id=last.app_id,
        mode=last.mode,
        slice_key=last.slice_key,
        started_at=attempts[0].started_at,
        finished_at=last.finished_at,
        status=last.status,
        error=last.error,
        spark_app_id=last.spark_app_id,
        spark_ui=last.spark_ui,
    )
    by_key: dict[int, BatchReport] = {}
    for number, attempt in enumerate(attempts, start=1):
        for batch in attempt.batches:
            key = batch.txn_version  # the batch id in a stream, the run version of a slice
            into = by_key.setdefault(key, BatchReport(batch.batch_id, batch.txn_version))
            into.duration_s = round(into.duration_s + batch.duration_s, 3)
            if batch.source_dead_lettered is not None:
                into.source_dead_lettered = batch.source_dead_lettered
            entries = {s.sink: i for i, s in enumerate(into.sinks)}
            for result in batch.sinks:
                entry = replace(result, committed_by_attempt=number if number < len(attempts) else None)
                if result.status == "skipped" and result.committed_in is not None and number > 1:
                    # skipped as committed, by an attempt of this run killed before its report
                    # got to this batch: the one before
                    entry = replace(result, status="written", committed_by_attempt=number - 1)
                if result.sink not in entries:
                    into.sinks.append(entry)
                elif result.status == "written" and into.sinks[entries[result.sink]].status != "written":
                    into.sinks[entries[result.sink]] = entry
    merged.batches = [by_key[k] for k in sorted(by_key)]
    return merged


def redact_json(text: str, secrets: Iterable[str]) -> str:
    """Mask secrets in JSON text, also where ``json.dumps`` escaped them (quotes, backslashes)."""
    for secret in secrets:
        escaped = json.dumps(secret)[1:-1]
        text = redact(text, [escaped, secret] if escaped != secret else [secret])
    return text
