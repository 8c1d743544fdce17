"""Read a Delta table's txn entries (appId -> version) without a JVM, reading only what is needed:
the ``txn`` column of the latest checkpoint (parquet column projection) plus the JSON commits
after it. ``deltalake`` replays every file action when it opens a table, so its cost grows with
the table; this reader's cost grows only with the commits since the last checkpoint.

Handles classic, multi-part and v2 checkpoints (txn actions live in the top-level v2 file, never
in sidecars) and a missing or stale ``_last_checkpoint``. Anything it cannot read locally (object
stores) goes to ``deltalake``. Imports neither pyspark nor airflow.

Cost, for a log of 10,000 commits and a checkpoint of 100,000 files (``benchmarks/status_check.py``):
``_last_checkpoint`` only narrows the listing (file names are zero-padded versions, so the names
from the hinted version on are one string comparison each) instead of matching every name of the
log; the checkpoint is opened once and only its non-null ``txn`` rows become Python objects."""

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
_TXN_LINE = re.compile(rb'^\s*\{\s*"txn"\s*:')
_COMMIT_INFO_LINE = re.compile(rb'^\s*\{\s*"commitInfo"\s*:')
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
    hint = _checkpoint_hint(log_dir)
    checkpoint_version: int | None = None
    parts: list[Path] = []
    if hint is not None:
        # Every name from the hinted version on: a newer checkpoint (stale hint) and every commit
        # after the newest checkpoint are among them. Without a complete checkpoint there (the hint
        # names a missing one), list the whole log.
        floor = f"{hint:020d}"
        recent = [n for n in names if n >= floor]
        checkpoint_version, parts = _latest_checkpoint(log_dir, recent)
        if checkpoint_version is not None:
            names = recent
    if checkpoint_version is None:
        checkpoint_version, parts = _latest_checkpoint(log_dir, names)
    commits = sorted(int(m.group(1)) for n in names if (m := _COMMIT.match(n)))
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


def _checkpoint_hint(log_dir: Path) -> int | None:
    """The version ``_last_checkpoint`` names, or None (missing, being rewritten, unreadable). Only
    a hint: the checkpoint itself is still looked for in the listing."""
    try:
        with open(log_dir / "_last_checkpoint", encoding="utf-8") as fh:
            version = json.load(fh)["version"]
        return int(version) if int(version) >= 0 else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _latest_checkpoint(log_dir: Path, names: list[str]) -> tuple[int | None, list[Path]]:
    """The newest complete checkpoint among ``names`` (a log listing, whole or from the
    ``_last_checkpoint`` hint on), so a missing or stale ``_last_checkpoint`` changes nothing."""
    by_version: dict[int, dict[str, list[str]]] = {}
    for name in names:
        if ".checkpoint." not in name:
            continue  # commits, checksums, _last_checkpoint: most of a long log
        if m := _CLASSIC.match(name):
            by_version.setdefault(int(m.group(1)), {}).setdefault("classic", []).append(name)
        elif m := _MULTI.match(name):
            kind = f"multi-{int(m.group(3))}"
            by_version.setdefault(int(m.group(1)), {}).setdefault(kind, []).append(name)
        elif m := _V2.match(name):
            by_version.setdefault(int(m.group(1)), {}).setdefault("v2", []).append(name)
    for version in sorted(by_version, reverse=True):
        for kind, files in by_version[version].items():
            if kind.startswith("multi-") and len(files) != int(kind.split("-")[1]):
                continue  # a multi-part checkpoint still being written
            chosen = sorted(files)[:1] if kind == "v2" else sorted(files)
            return version, [log_dir / name for name in chosen]
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

        checkpoint = pq.ParquetFile(part)  # opened once: its footer gives the schema
        if "txn" not in checkpoint.schema_arrow.names:
            continue
        # One row per action, nearly all of them adds: only the non-null txn rows become Python
        # objects (to_pylist() on the whole column costs ~1 us per file of the table).
        column = checkpoint.read(columns=["txn"]).column("txn").drop_null()
        for value in column.to_pylist():
            if value and value.get("appId") is not None:
                txns[value["appId"]] = int(value["version"])
    return txns


def _apply_commit(path: Path, txns: dict[str, int]) -> int | None:
    """Fold one JSON commit's txn actions into ``txns``; return its commit timestamp (ms)."""
    stamp = None
    with open(path, "rb") as fh:  # bytes: the lines that are skipped are never decoded
        for line in fh:
            # Only txn and commitInfo lines are parsed: add/remove lines are skipped unread.
            if _TXN_LINE.match(line):
                txn = json.loads(line)["txn"]
                txns[txn["appId"]] = int(txn["version"])
            elif _COMMIT_INFO_LINE.match(line):
                stamp = json.loads(line)["commitInfo"].get("timestamp")
    return int(stamp) if stamp is not None else None


def first_commit_at_least(table: str, app_id: str, version: int) -> int | None:
    """The first commit of the table at ``table`` whose txn version for ``app_id`` is at least
    ``version``: the commit that wrote a batch (or slice run) ``version``. None while the table
    has none. Commits are read newest first, only their txn lines; where older commits were
    cleaned up, the oldest one left is returned. Object stores: the latest version (an upper
    bound) once the txn is recorded."""
    state = read_txn_log(table)
    recorded = state.txn_version(app_id) if state is not None else None
    if state is None or recorded is None or recorded < version:
        return None
    local = _local_path(table)
    if local is None:
        return state.version
    log_dir = local / "_delta_log"
    commits = sorted((int(m.group(1)) for n in os.listdir(log_dir) if (m := _COMMIT.match(n))), reverse=True)
    found = state.version
    for commit in commits:
        txns: dict[str, int] = {}
        try:
            _apply_commit(log_dir / f"{commit:020d}.json", txns)
        except FileNotFoundError:
            break  # cleaned up meanwhile
        seen = txns.get(app_id)
        if seen is not None and seen < version:
            break
        if seen is not None:
            found = commit
    return found


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
