"""Read a Delta table's txn entries (appId -> version) without a JVM, reading only what is needed:
the ``txn`` column of the latest checkpoint (parquet column projection) plus the JSON commits
after it. ``deltalake`` replays every file action when it opens a table, so its cost grows with
the table; this reader's cost grows only with the commits since the last checkpoint.

Handles classic, multi-part and v2 checkpoints (txn actions live in the top-level v2 file, never
in sidecars) and a missing or stale ``_last_checkpoint``. Anything it cannot read locally (object
stores) goes to ``deltalake``. Imports neither pyspark nor airflow."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

_COMMIT = re.compile(r"^(\d{20})\.json$")
_CLASSIC = re.compile(r"^(\d{20})\.checkpoint\.parquet$")
_MULTI = re.compile(r"^(\d{20})\.checkpoint\.(\d{10})\.(\d{10})\.parquet$")
_TXN_LINE = re.compile(r'^\s*\{\s*"txn"\s*:')
_COMMIT_INFO_LINE = re.compile(r'^\s*\{\s*"commitInfo"\s*:')
_V2 = re.compile(r"^(\d{20})\.checkpoint\.[0-9a-fA-F-]{36}\.(parquet|json)$")


class NotADeltaTableError(Exception):
    """A path exists but holds no Delta log."""


@dataclass(frozen=True)
class TxnLog:
    """What a Delta log says about transactions, as of ``version``."""

    version: int
    txn_versions: dict[str, int] = field(default_factory=dict)
    last_commit_ms: int | None = None

    def txn_version(self, app_id: str) -> int | None:
        return self.txn_versions.get(app_id)

    @property
    def last_commit(self) -> str | None:
        if self.last_commit_ms is None:
            return None
        return datetime.fromtimestamp(self.last_commit_ms / 1000, tz=UTC).isoformat(timespec="seconds")


def _local_path(table: str) -> Path | None:
    if table.startswith("file://"):
        return Path(table[len("file://") :])
    if table.startswith("file:"):
        return Path(table[len("file:") :])
    if "://" in table:
        return None
    return Path(table)


def read_txn_log(table: str) -> TxnLog | None:
    """The txn state of the Delta table at ``table``; None when there is no table there (yet).
    Raises ``NotADeltaTableError`` for a non-empty folder that has no ``_delta_log``."""
    local = _local_path(table)
    if local is None:
        return _read_with_deltalake(table)
    log_dir = local / "_delta_log"
    if not log_dir.is_dir():
        if local.is_dir() and any(local.iterdir()):
            raise NotADeltaTableError(f"{table} exists but is not a Delta table (no _delta_log)")
        return None
    names = os.listdir(log_dir)
    commits = sorted(int(m.group(1)) for n in names if (m := _COMMIT.match(n)))
    checkpoint_version, parts = _latest_checkpoint(log_dir, names)
    if not commits and checkpoint_version is None:
        return None
    txns: dict[str, int] = {}
    if checkpoint_version is not None:
        txns.update(_checkpoint_txns(parts))
    start = checkpoint_version if checkpoint_version is not None else -1
    last_ms = None
    for version in (v for v in commits if v > start):
        last_ms = _apply_commit(log_dir / f"{version:020d}.json", txns) or last_ms
    latest = max([*commits, start])
    if last_ms is None and commits:
        last_ms = _apply_commit(log_dir / f"{commits[-1]:020d}.json", {})
    return TxnLog(version=latest, txn_versions=txns, last_commit_ms=last_ms)


def _latest_checkpoint(log_dir: Path, names: list[str]) -> tuple[int | None, list[Path]]:
    """The newest complete checkpoint, found in the log listing (which the commits need anyway), so
    a missing or stale ``_last_checkpoint`` changes nothing."""
    by_version: dict[int, dict[str, list[Path]]] = {}
    for name in names:
        if m := _CLASSIC.match(name):
            by_version.setdefault(int(m.group(1)), {}).setdefault("classic", []).append(log_dir / name)
        elif m := _MULTI.match(name):
            kind = f"multi-{int(m.group(3))}"
            by_version.setdefault(int(m.group(1)), {}).setdefault(kind, []).append(log_dir / name)
        elif m := _V2.match(name):
            by_version.setdefault(int(m.group(1)), {}).setdefault("v2", []).append(log_dir / name)
    for version in sorted(by_version, reverse=True):
        for kind, files in by_version[version].items():
            if kind.startswith("multi-") and len(files) != int(kind.split("-")[1]):
                continue  # a multi-part checkpoint still being written
            return version, sorted(files)[:1] if kind == "v2" else sorted(files)
    return None, []


def _checkpoint_txns(parts: list[Path]) -> dict[str, int]:
    txns: dict[str, int] = {}
    for part in parts:
        if part.suffix == ".json":  # a v2 checkpoint written as JSON
            for line in part.read_text(encoding="utf-8").splitlines():
                if '"txn"' in line:
                    txn = json.loads(line).get("txn")
                    if txn:
                        txns[txn["appId"]] = int(txn["version"])
            continue
        import pyarrow.parquet as pq

        schema = pq.read_schema(part)
        if "txn" not in schema.names:
            continue
        column = pq.read_table(part, columns=["txn"]).column("txn")
        for value in column.to_pylist():
            if value and value.get("appId") is not None:
                txns[value["appId"]] = int(value["version"])
    return txns


def _apply_commit(path: Path, txns: dict[str, int]) -> int | None:
    """Fold one JSON commit's txn actions into ``txns``; return its commit timestamp (ms)."""
    stamp = None
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            # Only txn and commitInfo lines are parsed: add/remove lines are skipped unread.
            if _TXN_LINE.match(line):
                txn = json.loads(line)["txn"]
                txns[txn["appId"]] = int(txn["version"])
            elif _COMMIT_INFO_LINE.match(line):
                stamp = json.loads(line)["commitInfo"].get("timestamp")
    return int(stamp) if stamp is not None else None


def _read_with_deltalake(table: str) -> TxnLog | None:
    from deltalake import DeltaTable

    if not DeltaTable.is_deltatable(table):
        return None
    dt = DeltaTable(table)
    history = dt.history(1)
    stamp = history[0].get("timestamp") if history else None
    # deltalake answers per app id only; callers ask through txn_version(), so wrap it.
    return _DeltalakeTxnLog(version=dt.version(), last_commit_ms=stamp, table=dt)


@dataclass(frozen=True)
class _DeltalakeTxnLog(TxnLog):
    table: object = None

    def txn_version(self, app_id: str) -> int | None:
        value = self.table.transaction_version(app_id)  # type: ignore[attr-defined]
        return int(value) if value is not None else None
