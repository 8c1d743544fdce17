"""Read back what the driver wrote: rows and txn entries (via delta-rs, no Spark)."""

from __future__ import annotations

from typing import Any

from deltalake import DeltaTable


def rows(path: str) -> list[dict[str, Any]]:
    return DeltaTable(path).to_pyarrow_table().to_pylist()  # type: ignore[no-any-return]


def txn(path: str, app_id: str) -> int | None:
    return DeltaTable(path).transaction_version(app_id)


def version(path: str) -> int:
    return DeltaTable(path).version()


def gold_as_dict(path: str) -> dict[tuple[int, str], tuple[int, float]]:
    return {
        (int(r["window_start"].timestamp()), r["event_type"]): (r["events"], round(r["revenue"], 6)) for r in rows(path)
    }
