"""Where each sink of a spec stands, read from the Delta logs without a JVM (delta-rs).

Used by ``airflow-fanout status``. A missing table or a table without the sink's app id yet is
"not yet" (``None``), not an error."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from airflow_fanout.spec.model import FanOutSpec
from airflow_fanout.spec.naming import sink_app_id


@dataclass(frozen=True)
class SinkStatus:
    sink: str
    target: str
    txn_app_id: str
    table_version: int | None
    txn_version: int | None
    last_commit: str | None


def sink_statuses(spec: FanOutSpec) -> list[SinkStatus]:
    """One ``SinkStatus`` per sink of ``spec`` (catalog tables are reported without a version)."""
    from deltalake import DeltaTable

    out = []
    for sink in spec.sinks:
        app_id = sink_app_id(spec, sink)
        if sink.path is None or not DeltaTable.is_deltatable(sink.path):
            out.append(SinkStatus(sink.name, sink.ref.target, app_id, None, None, None))
            continue
        table = DeltaTable(sink.path)
        history = table.history(1)
        stamp = history[0].get("timestamp") if history else None
        when = (
            datetime.fromtimestamp(stamp / 1000, tz=UTC).isoformat(timespec="seconds")
            if isinstance(stamp, int)
            else None
        )
        out.append(
            SinkStatus(sink.name, sink.ref.target, app_id, table.version(), table.transaction_version(app_id), when)
        )
    return out


def format_table(rows: list[list[str]]) -> str:
    """A plain, aligned text table (first row is the header)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
