"""Read back what the driver wrote: rows and txn entries (via delta-rs, no Spark)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deltalake import DeltaTable

from airflow_fanout.sample_data import EVENT_SCHEMA


def rows(path: str) -> list[dict[str, Any]]:
    return DeltaTable(path).to_pyarrow_table().to_pylist()  # type: ignore[no-any-return]


def txn(path: str, app_id: str) -> int | None:
    return DeltaTable(path).transaction_version(app_id)


def version(path: str) -> int:
    return DeltaTable(path).version()


def commits(path: str) -> list[str]:
    """The commit files of the table at ``path`` (none for no table, or a log with no commit yet:
    a write that failed before its first commit may leave an empty ``_delta_log``)."""
    log = Path(path) / "_delta_log"
    return sorted(p.name for p in log.glob("*.json")) if log.exists() else []


def gold_as_dict(path: str) -> dict[tuple[int, str], tuple[int, float]]:
    return {
        (int(r["window_start"].timestamp()), r["event_type"]): (r["events"], round(r["revenue"], 6)) for r in rows(path)
    }


def json_stream_spec(
    root: Path,
    app_id: str,
    sinks: list[dict[str, Any]],
    *,
    schema: str = EVENT_SCHEMA,
    folder: str = "landing",
    **top: Any,
) -> dict[str, Any]:
    """A stream spec over JSON files in ``root/folder``, one file per micro-batch."""
    return {
        "version": 1,
        "app_id": app_id,
        "source": {
            "format": "json",
            "path": str(root / folder),
            "schema": schema,
            "options": {"maxFilesPerTrigger": 1},
        },
        "run": {"mode": "stream", "checkpoint": str(root / "cp")},
        "sinks": sinks,
        **top,
    }
