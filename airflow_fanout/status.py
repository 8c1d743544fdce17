"""Where each sink of a spec stands, read from the Delta logs without a JVM (``txnlog``).

Used by ``airflow-fanout status``, the sensor and its trigger. A missing table, or a table without
the sink's app id yet, is "not yet" (``None``), not an error."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from airflow_fanout.spec.model import FanOutSpec
from airflow_fanout.spec.naming import sink_app_id
from airflow_fanout.txnlog import read_txn_log


@dataclass(frozen=True)
class SinkStatus:
    sink: str
    target: str
    txn_app_id: str
    table_version: int | None
    txn_version: int | None
    last_commit: str | None


def sink_status(name: str, target: str, path: str | None, app_id: str) -> SinkStatus:
    """The status of one sink table (catalog tables, without a path, report no version)."""
    log = read_txn_log(path) if path is not None else None
    if log is None:
        return SinkStatus(name, target, app_id, None, None, None)
    return SinkStatus(name, target, app_id, log.version, log.txn_version(app_id), log.last_commit)


def sink_statuses(spec: FanOutSpec) -> list[SinkStatus]:
    """One ``SinkStatus`` per sink of ``spec``."""
    return [sink_status(s.name, s.ref.target, s.path, sink_app_id(spec, s)) for s in spec.sinks]


@dataclass(frozen=True)
class WatchedSink:
    """A sink the sensor waits for: its table, its txn app id and the version it must reach."""

    sink: str
    path: str
    txn_app_id: str
    expected: int

    def to_dict(self) -> dict[str, object]:
        return {"sink": self.sink, "path": self.path, "txn_app_id": self.txn_app_id, "expected": self.expected}

    @classmethod
    def from_dict(cls, doc: Mapping[str, object]) -> WatchedSink:
        return cls(str(doc["sink"]), str(doc["path"]), str(doc["txn_app_id"]), int(str(doc["expected"])))


def lagging(watched: list[WatchedSink]) -> list[str]:
    """A line for each watched sink whose recorded txn version is below the expected one."""
    out = []
    for w in watched:
        status = sink_status(w.sink, w.path, w.path, w.txn_app_id)
        if status.txn_version is None or status.txn_version < w.expected:
            recorded = "nothing" if status.txn_version is None else status.txn_version
            out.append(f"{w.sink} ({w.path}): txn {w.txn_app_id} at {recorded}, expected >= {w.expected}")
    return out


def format_table(rows: list[list[str]]) -> str:
    """A plain, aligned text table (first row is the header)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
