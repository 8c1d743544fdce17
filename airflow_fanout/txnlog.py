"""Read a Delta table's txn entries (appId -> version) without a JVM, reading only what is needed:
the ``txn`` column of the latest checkpoint (parquet column projection) plus the JSON commits
after it. ``deltalake`` replays every file action when it opens a table, so its cost grows with
the table; this reader's cost grows only with the commits since the last checkpoint.

Handles classic, multi-part and v2 checkpoints (txn actions live in the top-level v2 file, never
in sidecars) and a missing or stale ``_last_checkpoint``. A log in an object store (``s3a://``,
``abfss://``, ``gs://``) is read the same way through ``obstore``: one listing that starts after
the hinted checkpoint (``offset``), ranged reads of the checkpoint's ``txn`` column, one GET per
commit since; ``storage_options`` carry the credentials (``airflow_fanout.storage``), else the
environment's. Imports neither pyspark nor airflow.

Cost, for a log of 10,000 commits and a checkpoint of 100,000 files (``benchmarks/status_check.py``):
``_last_checkpoint`` only narrows the listing (file names are zero-padded versions, so the names
from the hinted version on are one string comparison each) instead of matching every name of the
log; the checkpoint is opened once and only its non-null ``txn`` rows become Python objects."""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ParamSpec, Protocol, TypeVar

from airflow_fanout.storage import object_path, object_store

_COMMIT = re.compile(r"^(\d{20})\.json$")
_CLASSIC = re.compile(r"^(\d{20})\.checkpoint\.parquet$")
_MULTI = re.compile(r"^(\d{20})\.checkpoint\.(\d{10})\.(\d{10})\.parquet$")
_TXN_LINE = re.compile(rb'^\s*\{\s*"txn"\s*:')
_COMMIT_INFO_LINE = re.compile(rb'^\s*\{\s*"commitInfo"\s*:')
_V2 = re.compile(r"^(\d{20})\.checkpoint\.[0-9a-fA-F-]{36}\.(parquet|json)$")

_P = ParamSpec("_P")
_T = TypeVar("_T")


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
        return datetime.fromtimestamp(self.last_commit_ms / 1000, tz=timezone.utc).isoformat(timespec="seconds")


class LogFolder(Protocol):
    """A table's ``_delta_log`` folder: local, or in an object store."""

    @property
    def table(self) -> str: ...

    def names(self, start_after: str | None = None) -> list[str] | None:
        """The file names in the log (from ``start_after`` on, exclusive, when given), sorted;
        None when the table has no log: raises ``NotADeltaTableError`` if the table's folder
        holds other files."""

    def read(self, name: str) -> bytes: ...

    def parquet(self, name: str) -> Any:
        """A file-like object pyarrow can read ranges of."""

    @property
    def reads(self) -> Executor:
        """Where the folder's reads run: in the caller's thread for a local disk, on a shared
        thread pool for an object store (each read is a round trip, so they overlap)."""


class _InCallerThread(Executor):
    """An executor that runs each call at once, in the caller's thread (a local disk's reads)."""

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
        done: Future[_T] = Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except BaseException as error:  # handed to the caller through result(), as a pool would
            done.set_exception(error)
        return done


_IN_CALLER_THREAD = _InCallerThread()


@dataclass(frozen=True)
class LocalLogFolder:
    table: str
    root: Path

    def names(self, start_after: str | None = None) -> list[str] | None:
        log_dir = self.root / "_delta_log"
        if not log_dir.is_dir():
            if self.root.is_dir() and any(self.root.iterdir()):
                raise NotADeltaTableError(f"{self.table} exists but is not a Delta table (no _delta_log)")
            return None
        names = os.listdir(log_dir)
        # file names are zero-padded versions: the names after the hint are one comparison each
        return sorted(names if start_after is None else [n for n in names if n > start_after])

    def read(self, name: str) -> bytes:
        return (self.root / "_delta_log" / name).read_bytes()

    def parquet(self, name: str) -> Any:
        return self.root / "_delta_log" / name

    @property
    def reads(self) -> Executor:
        return _IN_CALLER_THREAD


@dataclass(frozen=True)
class ObjectLogFolder:
    table: str
    store: Any
    key: str
    #: file name -> size, from the last listing (a parquet read then needs no HEAD)
    sizes: dict[str, int] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return f"{self.key}/_delta_log/" if self.key else "_delta_log/"

    def names(self, start_after: str | None = None) -> list[str] | None:
        import obstore

        offset = None if start_after is None else self.prefix + start_after
        found = []
        for page in obstore.list(self.store, self.prefix, offset=offset):
            for meta in page:
                name = meta["path"][len(self.prefix) :]
                self.sizes[name] = int(meta["size"])
                found.append(name)
        if not found and start_after is None:
            table = f"{self.key}/" if self.key else None
            if any(page for page in obstore.list(self.store, table, chunk_size=1)):
                raise NotADeltaTableError(f"{self.table} exists but is not a Delta table (no _delta_log)")
            return None
        return sorted(found)

    def read(self, name: str) -> bytes:
        import obstore

        return bytes(obstore.get(self.store, self.prefix + name).bytes())

    def parquet(self, name: str) -> Any:
        return _RangeFile(self.store, self.prefix + name, self.sizes.get(name))

    @property
    def reads(self) -> Executor:
        return _pool()


class _RangeFile(io.RawIOBase):
    """An object as a seekable file: each read is one ranged GET (pyarrow reads a parquet footer,
    then only the column chunks it needs), and a read inside the last range fetched is served
    from it (a small checkpoint's ``txn`` chunk often lies inside the footer read)."""

    def __init__(self, store: Any, path: str, size: int | None = None) -> None:
        import obstore

        super().__init__()
        self._store, self._path, self._pos = store, path, 0
        self._size = size if size is not None else int(obstore.head(store, path)["size"])
        self._block_start, self._block = 0, b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        import obstore

        wanted = min(len(buffer), self._size - self._pos)
        if wanted <= 0:
            return 0
        offset = self._pos - self._block_start
        if not (offset >= 0 and offset + wanted <= len(self._block)):
            self._block_start = self._pos
            self._block = bytes(obstore.get_range(self._store, self._path, start=self._pos, length=wanted))
            offset = 0
        buffer[:wanted] = memoryview(self._block)[offset : offset + wanted]
        self._pos += wanted
        return wanted


_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    """Threads for an object store's reads (I/O bound; shared by every table read)."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="fanout-txnlog")
    return _POOL


def log_folder(table: str, storage_options: Mapping[str, str] | None = None) -> LogFolder:
    """The log folder of the table at ``table`` (a local path or an object-store URL)."""
    where = object_path(table)
    if where is None:
        local = table[len("file://") :] if table.startswith("file://") else table.removeprefix("file:")
        return LocalLogFolder(table, Path(local))
    return ObjectLogFolder(table, object_store(where, storage_options), where.key)


def read_txn_log(table: str, storage_options: Mapping[str, str] | None = None) -> TxnLog | None:
    """The txn state of the Delta table at ``table``; None when there is no table there (yet).
    Raises ``NotADeltaTableError`` for a non-empty folder that has no ``_delta_log``."""
    return _read_log(log_folder(table, storage_options)).state


@dataclass(frozen=True)
class _LogRead:
    """What reading a log's txn state saw, for a caller that goes on reading the same log."""

    state: TxnLog | None
    #: the listing read: the whole log, or (``whole`` False) the names from the hinted checkpoint on
    names: list[str]
    whole: bool
    #: the commits read (those after the checkpoint), by version
    bodies: dict[int, bytes]
    #: the newest checkpoint's version and txn state, if the log has one
    checkpoint_version: int | None = None
    checkpoint_txns: Mapping[str, int] = field(default_factory=dict)


def _read_log(folder: LogFolder) -> _LogRead:
    hint = _checkpoint_hint(folder)
    names: list[str] | None = None
    checkpoint_version: int | None = None
    parts: list[str] = []
    if hint is not None:
        # Every name from the hinted version on: a newer checkpoint (stale hint) and every commit
        # after the newest checkpoint are among them. Without a complete checkpoint there (the hint
        # names a missing one), list the whole log.
        recent = folder.names(start_after=f"{hint:020d}.")  # "." sorts before the suffixes
        if recent:
            checkpoint_version, parts = _latest_checkpoint(recent)
            if checkpoint_version is not None:
                names = recent
    whole = names is None
    if names is None:
        names = folder.names()
        if names is None:
            return _LogRead(None, [], True, {})
        checkpoint_version, parts = _latest_checkpoint(names)
    commits = _commit_versions(names)
    if not commits and checkpoint_version is None:
        return _LogRead(None, names, whole, {})
    txns: dict[str, int] = {}
    start = checkpoint_version if checkpoint_version is not None else -1
    later = [v for v in commits if v > start]
    # In an object store each read is a round trip: the checkpoint and every later commit are
    # fetched at once, then applied in order (checkpoint first, commits by version).
    checkpoint_read = folder.reads.submit(_checkpoint_txns, folder, parts) if checkpoint_version is not None else None
    bodies = dict(zip(later, folder.reads.map(folder.read, [f"{v:020d}.json" for v in later]), strict=True))
    checkpoint_txns = checkpoint_read.result() if checkpoint_read is not None else {}
    txns.update(checkpoint_txns)
    last_ms = None
    for version in later:
        last_ms = _apply_commit(bodies[version], txns) or last_ms
    latest = max([*commits, start])
    if last_ms is None and commits:
        bodies[commits[-1]] = folder.read(f"{commits[-1]:020d}.json")
        last_ms = _apply_commit(bodies[commits[-1]], {})
    state = TxnLog(version=latest, txn_versions=txns, last_commit_ms=last_ms)
    return _LogRead(state, names, whole, bodies, checkpoint_version, checkpoint_txns)


def _checkpoint_hint(folder: LogFolder) -> int | None:
    """The version ``_last_checkpoint`` names, or None (missing, being rewritten, unreadable). Only
    a hint: the checkpoint itself is still looked for in the listing."""
    try:
        version = json.loads(folder.read("_last_checkpoint"))["version"]
        return int(version) if int(version) >= 0 else None
    except Exception:  # missing (FileNotFoundError, obstore's NotFoundError), partial, malformed
        return None


def _latest_checkpoint(names: list[str]) -> tuple[int | None, list[str]]:
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
            return version, chosen
    return None, []


def _checkpoint_txns(folder: LogFolder, parts: list[str]) -> dict[str, int]:
    txns: dict[str, int] = {}
    for part in parts:
        if part.endswith(".json"):  # a v2 checkpoint written as JSON
            for line in folder.read(part).decode("utf-8").splitlines():
                if '"txn"' in line:
                    txn = json.loads(line).get("txn")
                    if txn:
                        txns[txn["appId"]] = int(txn["version"])
            continue
        import pyarrow.parquet as pq

        checkpoint = pq.ParquetFile(folder.parquet(part))  # opened once: its footer gives the schema
        if "txn" not in checkpoint.schema_arrow.names:
            continue
        # One row per action, nearly all of them adds: only the non-null txn rows become Python
        # objects (to_pylist() on the whole column costs ~1 us per file of the table); in an
        # object store only the txn column's byte ranges are fetched.
        column = checkpoint.read(columns=["txn"]).column("txn").drop_null()
        for value in column.to_pylist():
            if value and value.get("appId") is not None:
                txns[value["appId"]] = int(value["version"])
    return txns


def _apply_commit(data: bytes, txns: dict[str, int]) -> int | None:
    """Fold one JSON commit's txn actions into ``txns``; return its commit timestamp (ms)."""
    stamp = None
    for line in data.splitlines():  # bytes: the lines that are skipped are never decoded
        # Only txn and commitInfo lines are parsed: add/remove lines are skipped unread.
        if _TXN_LINE.match(line):
            txn = json.loads(line)["txn"]
            txns[txn["appId"]] = int(txn["version"])
        elif _COMMIT_INFO_LINE.match(line):
            stamp = json.loads(line)["commitInfo"].get("timestamp")
    return int(stamp) if stamp is not None else None


def first_commit_at_least(
    table: str, app_id: str, version: int, storage_options: Mapping[str, str] | None = None
) -> int | None:
    """The first commit of the table at ``table`` whose txn version for ``app_id`` is at least
    ``version``: the commit that wrote a batch (or slice run) ``version``. None while the table
    has none. Commits are read newest first, only their txn lines; where older commits were
    cleaned up, the oldest one left is returned.

    The walk starts from what reading the txn state already listed and read (the commits since
    the checkpoint) and stops at the checkpoint when its txn state is below ``version``: the log
    is listed again, whole, only when the commit sought is older than the checkpoint."""
    folder = log_folder(table, storage_options)
    read = _read_log(folder)
    state = read.state
    recorded = state.txn_version(app_id) if state is not None else None
    if state is None or recorded is None or recorded < version:
        return None
    found = state.version
    for commit in _commits_newest_first(folder, read):
        if read.checkpoint_version is not None and commit <= read.checkpoint_version:
            held = read.checkpoint_txns.get(app_id)
            if held is None or held < version:
                return found  # below the version as of the checkpoint: written after it
        body = read.bodies.get(commit)
        if body is None:
            try:
                body = folder.read(f"{commit:020d}.json")
            except Exception:  # cleaned up meanwhile (FileNotFoundError, obstore's NotFoundError)
                return found
        txns: dict[str, int] = {}
        _apply_commit(body, txns)
        seen = txns.get(app_id)
        if seen is not None and seen < version:
            return found
        if seen is not None:
            found = commit
    return found


def _commits_newest_first(folder: LogFolder, read: _LogRead) -> Iterator[int]:
    """The log's commit versions, newest first: those ``read`` listed, then, when its listing
    began at the hinted checkpoint and the caller walks on, the older ones from a listing of the
    whole log (made only then)."""
    listed = _commit_versions(read.names)
    yield from reversed(listed)
    if read.whole:
        return
    oldest_listed = listed[0] if listed else (read.state.version + 1 if read.state is not None else 0)
    yield from reversed([v for v in _commit_versions(folder.names() or []) if v < oldest_listed])


def _commit_versions(names: Iterable[str]) -> list[int]:
    """The versions of the JSON commits among a log's file ``names``, ascending."""
    return sorted(int(m.group(1)) for n in names if (m := _COMMIT.match(n)))
