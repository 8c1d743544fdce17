"""Where each sink of a spec stands, read from the Delta logs without a JVM (``txnlog``).

Used by ``airflow-fanout status``, the sensor and its trigger. A missing table, or a table without
the sink's app id yet, is "not yet" (``None``), not an error."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from airflow_fanout.spec.model import FanOutSpec, SinkSpec
from airflow_fanout.spec.naming import sink_app_id
from airflow_fanout.txnlog import first_commit_at_least, read_txn_log

#: credentials for tables in an object store (``airflow_fanout.storage.reader_options``); None:
#: the environment's (``AWS_ACCESS_KEY_ID`` ...), or a local table
StorageOptions = Mapping[str, str] | None


@dataclass(frozen=True)
class SinkStatus:
    sink: str
    target: str
    txn_app_id: str
    table_version: int | None
    txn_version: int | None
    last_commit: str | None
    #: a view: the sink whose table it follows, and that table's version now (its txn version
    #: is the upstream version it has caught up with)
    view_of: str | None = None
    upstream_version: int | None = None

    @property
    def follows(self) -> str:
        """``silver v7 of 9`` for a view two commits behind its upstream; ``-`` otherwise."""
        if self.view_of is None:
            return "-"
        at = "nothing" if self.txn_version is None else f"v{self.txn_version}"
        now = "-" if self.upstream_version is None else str(self.upstream_version)
        return f"{self.view_of} {at} of {now}"


def sink_status(
    name: str, target: str, path: str | None, app_id: str, storage_options: StorageOptions = None
) -> SinkStatus:
    """The status of one sink table (catalog tables, without a path, report no version);
    ``storage_options``: credentials for a table in an object store (``airflow_fanout.storage``)."""
    log = read_txn_log(path, storage_options) if path is not None else None
    if log is None:
        return SinkStatus(name, target, app_id, None, None, None)
    return SinkStatus(name, target, app_id, log.version, log.txn_version(app_id), log.last_commit)


def sink_statuses(spec: FanOutSpec, storage_options: StorageOptions = None) -> list[SinkStatus]:
    """One ``SinkStatus`` per sink of ``spec`` (views with their upstream's version)."""
    statuses = {
        s.name: sink_status(s.name, s.ref.target, s.path, sink_app_id(spec, s), storage_options) for s in spec.sinks
    }
    for sink in spec.sinks:
        if spec.view_kind(sink) is not None and sink.upstream is not None:
            upstream = statuses[sink.upstream].table_version
            statuses[sink.name] = replace(statuses[sink.name], view_of=sink.upstream, upstream_version=upstream)
    return list(statuses.values())


@dataclass(frozen=True)
class WatchedSink:
    """A sink the sensor waits for: its table, its txn app id and the version it must reach.

    A view (``FanOutSpec.view_kind``) records upstream table versions: with ``after`` set, the
    version it must reach is found when checked: the commit of the ``after`` sink's table that
    wrote ``after``'s own expected version (which may itself be found the same way)."""

    sink: str
    path: str
    txn_app_id: str
    expected: int
    after: WatchedSink | None = None

    def to_dict(self) -> dict[str, object]:
        doc: dict[str, object] = {
            "sink": self.sink,
            "path": self.path,
            "txn_app_id": self.txn_app_id,
            "expected": self.expected,
        }
        if self.after is not None:
            doc["after"] = self.after.to_dict()
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, object]) -> WatchedSink:
        after = doc.get("after")
        return cls(
            str(doc["sink"]),
            str(doc["path"]),
            str(doc["txn_app_id"]),
            int(str(doc["expected"])),
            cls.from_dict(after) if isinstance(after, Mapping) else None,
        )

    def target(self, storage_options: StorageOptions = None) -> int | None:
        """The txn version this sink must reach; None while its upstream has not written it."""
        if self.after is None:
            return self.expected
        upstream = self.after.target(storage_options)
        if upstream is None:
            return None
        return first_commit_at_least(self.after.path, self.after.txn_app_id, upstream, storage_options)


def watch(
    spec: FanOutSpec, sink: SinkSpec, expected: int, paths: Callable[[SinkSpec], str] | None = None
) -> WatchedSink:
    """What to wait for so that ``sink`` holds batch (or slice run) ``expected``: its own txn
    version, or for a view, its upstream's commit of that batch."""
    path = sink.path if paths is None else paths(sink)
    if path is None:
        raise ValueError(f"sink {sink.name!r} is a catalog table: watching needs sink paths")
    if spec.view_kind(sink) is None:
        return WatchedSink(sink.name, path, sink_app_id(spec, sink), expected)
    assert sink.upstream is not None
    after = watch(spec, spec.sink(sink.upstream), expected, paths)
    return WatchedSink(sink.name, path, sink_app_id(spec, sink), -1, after)


def lagging(watched: list[WatchedSink], storage_options: StorageOptions = None) -> list[str]:
    """A line for each watched sink whose recorded txn version is below the expected one."""
    out = []
    for w in watched:
        expected = w.target(storage_options)
        if expected is None:
            assert w.after is not None
            first = w.after
            while first.after is not None and first.target(storage_options) is None:
                first = first.after
            out.append(
                f"{w.sink} ({w.path}): a view of {w.after.sink}, waiting for {first.sink} to commit "
                f"txn {first.txn_app_id} >= {first.expected}"
                if first.after is None
                else f"{w.sink} ({w.path}): a view of {w.after.sink}, waiting for {first.sink} to catch up"
            )
            continue
        status = sink_status(w.sink, w.path, w.path, w.txn_app_id, storage_options)
        if status.txn_version is None or status.txn_version < expected:
            recorded = "nothing" if status.txn_version is None else status.txn_version
            out.append(f"{w.sink} ({w.path}): txn {w.txn_app_id} at {recorded}, expected >= {expected}")
    return out


def confirmed(watched: list[WatchedSink], storage_options: StorageOptions = None) -> list[str]:
    """A line for each watched sink saying what its log records (what a sensor confirmed)."""
    out = []
    for w in watched:
        status = sink_status(w.sink, w.path, w.path, w.txn_app_id, storage_options)
        recorded = "nothing" if status.txn_version is None else status.txn_version
        expected = w.target(storage_options)
        wanted = "" if expected is None else f" (expected >= {expected})"
        table = f"table version {status.table_version}"
        out.append(f"{w.sink} ({w.path}): txn {w.txn_app_id} at {recorded}{wanted}, {table}")
    return out


def format_table(rows: list[list[str]]) -> str:
    """A plain, aligned text table (first row is the header)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
