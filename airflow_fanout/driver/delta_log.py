"""What a Delta table has recorded: its version, its txn versions per app id, its commits.

Read from the log files, never by a Spark job. Delta's own ``snapshot.transactions()`` rebuilds
the table state with a Spark job (about a second per call even on a tiny table, and the driver
needs the state of every sink before and after every write); here instead:

- ``DeltaLog.update()`` lists the log (milliseconds) and gives the latest version;
- the first read of a table takes its txn entries from the version's checksum file (``.crc``,
  which Delta writes with ``setTransactions``), falling back to ``snapshot.transactions()`` when
  there is none;
- every later read applies only the ``txn`` actions of the JSON commits since the last read,
  read through the table's own LogStore (so object stores work too).

A ``DeltaLogReader`` belongs to one run; it remembers each table's last state and identity, so a
table deleted or replaced under a running spec is noticed (``TableState.replaced``)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession

from airflow_fanout.spec.model import TableRef


@dataclass(frozen=True)
class TableState:
    """A Delta table as the driver sees it before a write."""

    exists: bool
    version: int | None = None
    txn_versions: dict[str, int] = field(default_factory=dict)
    table_id: str | None = None

    def txn_version(self, app_id: str) -> int | None:
        return self.txn_versions.get(app_id)


@dataclass(frozen=True)
class CommitInfo:
    """One commit: its operation and metrics (from ``commitInfo``) and the txn ids it carried."""

    version: int
    operation: str
    metrics: dict[str, int]
    txns: dict[str, int] = field(default_factory=dict)


def parse_commit(version: int, text: str) -> CommitInfo:
    """The ``commitInfo`` and ``txn`` actions of one JSON commit file (other actions skipped)."""
    operation, metrics, txns = "UNKNOWN", {}, {}
    for line in text.splitlines():
        if '"commitInfo"' in line[:16]:
            info = json.loads(line)["commitInfo"]
            operation = str(info.get("operation", "UNKNOWN"))
            raw = info.get("operationMetrics") or {}
            metrics = {k: int(v) for k, v in raw.items() if str(v).lstrip("-").isdigit()}
        elif '"txn"' in line[:10]:
            txn = json.loads(line)["txn"]
            txns[str(txn["appId"])] = int(txn["version"])
    return CommitInfo(version=version, operation=operation, metrics=metrics, txns=txns)


def txns_from_checksum(text: str) -> dict[str, int] | None:
    """The txn entries a ``.crc`` file lists, or None when it does not list them."""
    doc = json.loads(text)
    entries = doc.get("setTransactions")
    if entries is None:
        return None
    return {str(e["appId"]): int(e["version"]) for e in entries}


class DeltaLogReader:
    """Table states and commits of one run's tables, read incrementally from their logs."""

    def __init__(self, spark: SparkSession) -> None:
        self._spark = spark
        self._known: dict[str, TableState] = {}
        self._locations: dict[str, str] = {}
        self._lock = threading.Lock()  # sinks read their tables from parallel threads

    # -- public -------------------------------------------------------------------------
    def state(self, ref: TableRef) -> TableState:
        """Version, identity and txn versions of the table behind ``ref`` now."""
        path = self.location(ref)
        if path is None:
            return TableState(exists=False)
        log = self._delta_log(path)
        snapshot = log.update(False, self._none(), self._none())
        version = int(snapshot.version())
        if version < 0:
            return TableState(exists=False)
        table_id = str(snapshot.metadata().id())
        with self._lock:
            known = self._known.get(path)
        txns: dict[str, int] | None = None
        if known is not None and known.table_id == table_id and known.version is not None:
            if known.version == version:
                return known
            if known.version < version:
                txns = dict(known.txn_versions)
                try:
                    for commit in self._read_commits(log, known.version + 1, version):
                        txns.update(commit.txns)
                except FileNotFoundError:  # cleaned up meanwhile: read the whole state instead
                    txns = None
        if txns is None:
            txns = self._txns_from_checksum(log, version)
        if txns is None:
            txns = _scala_txns(snapshot)
        state = TableState(exists=True, version=version, txn_versions=txns, table_id=table_id)
        with self._lock:
            self._known[path] = state
        return state

    def known(self, ref: TableRef) -> TableState | None:
        """The state this reader last saw for ``ref`` (None if it never saw the table)."""
        path = ref.path if ref.path is not None else self._locations.get(ref.table or "")
        with self._lock:
            return self._known.get(path) if path is not None else None

    def commits(self, ref: TableRef, first: int, last: int) -> list[CommitInfo]:
        """Commits ``first``..``last`` (inclusive) of the table behind ``ref``."""
        path = self.location(ref)
        if path is None or last < first:
            return []
        return self._read_commits(self._delta_log(path), first, last)

    def commit_carrying(self, ref: TableRef, before: TableState, app_id: str, txn_version: int) -> CommitInfo | None:
        """After a write: the commit since ``before`` that carried ``(app_id, txn_version)``, or
        None when Delta skipped the write (a replay)."""
        after = self.state(ref)
        first = -1 if before.version is None else before.version
        commits = self.commits(ref, first + 1, after.version or 0)
        return next((c for c in commits if c.txns.get(app_id) == txn_version), None)

    def first_commit(self, ref: TableRef, app_id: str, version: int) -> int | None:
        """The first commit whose txn version for ``app_id`` is at least ``version`` (None when
        the table has none yet). Read backwards from the latest commit, so it costs the commits
        since then; if older commits were cleaned up, the oldest one left is returned."""
        state = self.state(ref)
        recorded = state.txn_version(app_id)
        path = self.location(ref)
        if path is None or state.version is None or recorded is None or recorded < version:
            return None
        log = self._delta_log(path)
        names = self._jvm().org.apache.spark.sql.delta.util.FileNames
        found = state.version
        for candidate in range(state.version, -1, -1):
            text = self._read_file(log, names.unsafeDeltaFile(log.logPath(), candidate))
            if text is None:
                break
            txn = parse_commit(candidate, text).txns.get(app_id)
            if txn is not None and txn < version:
                break
            if txn is not None:
                found = candidate
        return found

    def location(self, ref: TableRef) -> str | None:
        """The storage path of ``ref``; for a catalog table, None until the table exists."""
        if ref.path is not None:
            return ref.path
        assert ref.table is not None
        with self._lock:
            cached = self._locations.get(ref.table)
        if cached is not None:
            return cached
        if not self._spark.catalog.tableExists(ref.table):
            return None
        row = self._spark.sql(f"DESCRIBE DETAIL {ref.table}").select("location").first()
        if not row:
            return None
        with self._lock:
            self._locations[ref.table] = str(row[0])
        return str(row[0])

    # -- log files ----------------------------------------------------------------------
    def _jvm(self) -> Any:
        jvm = self._spark.sparkContext._jvm
        assert jvm is not None
        return jvm

    def _none(self) -> Any:
        return self._jvm().scala.Option.empty()

    def _delta_log(self, path: str) -> Any:
        return self._jvm().org.apache.spark.sql.delta.DeltaLog.forTable(self._spark._jsparkSession, path)

    def _read_file(self, log: Any, file: Any) -> str | None:
        try:
            return str(log.store().read(file, log.newDeltaHadoopConf()).mkString("\n"))
        except Exception as exc:  # py4j: FileNotFoundException (a log cleaned up, no .crc)
            if "FileNotFound" in str(exc) or "No such file" in str(exc):
                return None
            raise

    def _read_commits(self, log: Any, first: int, last: int) -> list[CommitInfo]:
        names = self._jvm().org.apache.spark.sql.delta.util.FileNames
        commits = []
        for version in range(first, last + 1):
            text = self._read_file(log, names.unsafeDeltaFile(log.logPath(), version))
            if text is None:
                raise FileNotFoundError(f"commit {version} of {log.dataPath()} is missing from its log")
            commits.append(parse_commit(version, text))
        return commits

    def _txns_from_checksum(self, log: Any, version: int) -> dict[str, int] | None:
        names = self._jvm().org.apache.spark.sql.delta.util.FileNames
        text = self._read_file(log, names.checksumFile(log.logPath(), version))
        return txns_from_checksum(text) if text else None


def _scala_txns(snapshot: Any) -> dict[str, int]:
    """``snapshot.transactions()``: a Spark job over the log; the fallback when no .crc lists them."""
    txns: dict[str, int] = {}
    iterator = snapshot.transactions().iterator()
    while iterator.hasNext():
        entry = iterator.next()
        txns[str(entry._1())] = int(entry._2())
    return txns
