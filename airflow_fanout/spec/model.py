"""The spec as typed, immutable objects. Built only from a document that passed validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Scalar = str | int | float | bool
SinkMode = Literal["append", "overwrite", "merge"]
RunMode = Literal["stream", "batch"]
WhenMatched = Literal["update", "ignore"]
SourceFormat = Literal["delta", "json", "parquet", "csv", "rate", "table"]
#: How a sink reading ``from`` another keeps up with it (see ``FanOutSpec.view_kind``).
ViewKind = Literal["aggregate", "keyed", "changes"]

SPEC_VERSION = 1
DEFAULT_MAX_PARALLEL_SINKS = 4
WINDOW_START = "window_start"
WINDOW_END = "window_end"


@dataclass(frozen=True)
class TableRef:
    """Where a Delta table lives: a storage ``path`` or a catalog ``table`` name."""

    path: str | None = None
    table: str | None = None

    @property
    def target(self) -> str:
        """A human-readable name of the table (its path or catalog name)."""
        return self.path if self.path is not None else f"table:{self.table}"

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> TableRef:
        return cls(path=doc.get("path"), table=doc.get("table"))


@dataclass(frozen=True)
class SourceSpec:
    format: SourceFormat
    path: str | None = None
    table: str | None = None
    schema: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    where: str | None = None
    #: json/csv rows that do not parse: Spark's default (``permissive``: all-null columns), sent
    #: to the dead-letter table with their raw text (``dead_letter``), or failing the run (``fail``)
    corrupt_records: Literal["permissive", "dead_letter", "fail"] = "permissive"

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> SourceSpec:
        return cls(
            corrupt_records=doc.get("corrupt_records", "permissive"),
            format=doc["format"],
            path=doc.get("path"),
            table=doc.get("table"),
            schema=doc.get("schema"),
            options=_string_options(doc.get("options", {})),
            where=doc.get("where"),
        )


@dataclass(frozen=True)
class Trigger:
    """How a stream run triggers: ``available_now`` (default), ``once`` or ``processing_time``."""

    kind: Literal["available_now", "once", "processing_time"] = "available_now"
    interval: str | None = None

    @classmethod
    def from_dict(cls, doc: dict[str, Any] | None) -> Trigger:
        if not doc:
            return cls()
        if "processing_time" in doc:
            return cls("processing_time", doc["processing_time"])
        if "once" in doc:
            return cls("once")
        return cls("available_now")


@dataclass(frozen=True)
class SliceSpec:
    """The slice a batch run reads and replaces, e.g. one logical date."""

    key: str
    where: str
    run_version: int | None = None


@dataclass(frozen=True)
class RunSpec:
    mode: RunMode
    checkpoint: str
    trigger: Trigger = Trigger()
    max_parallel_sinks: int = DEFAULT_MAX_PARALLEL_SINKS
    timeout_seconds: int | None = None
    slice: SliceSpec | None = None

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> RunSpec:
        sl = doc.get("slice")
        return cls(
            mode=doc["mode"],
            checkpoint=doc["checkpoint"],
            trigger=Trigger.from_dict(doc.get("trigger")),
            max_parallel_sinks=doc.get("max_parallel_sinks", DEFAULT_MAX_PARALLEL_SINKS),
            timeout_seconds=doc.get("timeout_seconds"),
            slice=SliceSpec(sl["key"], sl["where"], sl.get("run_version")) if sl else None,
        )


@dataclass(frozen=True)
class DedupeSpec:
    keys: tuple[str, ...]
    order_by: str | None = None


#: Validity columns of an SCD type 2 table: a version of a key is valid from ``__start_at``
#: (inclusive) to ``__end_at`` (exclusive; null while current), both sequence values.
SCD_START = "__start_at"
SCD_END = "__end_at"
DEFAULT_TOMBSTONE_RETENTION = "7 days"


@dataclass(frozen=True)
class TombstoneSpec:
    """Where a CDC sink keeps its tombstones (key + sequence of each delete) and for how long.
    ``path``/``table`` unset: ``<sink path>/_fanout_tombstones`` (``<sink table>__fanout_tombstones``)."""

    retention: str = DEFAULT_TOMBSTONE_RETENTION
    path: str | None = None
    table: str | None = None


@dataclass(frozen=True)
class MergeSpec:
    keys: tuple[str, ...]
    #: the columns that order the changes of one key (later wins), compared left to right
    sequence_by: tuple[str, ...] = ()
    delete_when: str | None = None
    #: ``update``: an upsert; ``ignore``: insert new keys only, never touch an existing row (an
    #: insert-only MERGE, which Delta runs without rewriting any target file).
    when_matched: WhenMatched = "update"
    #: tombstones of deletes (CDC sinks with ``sequence_by`` and ``delete_when``); None: off
    tombstones: TombstoneSpec | None = None
    #: 1: one row per key (the latest); 2: one row per version of a key, with validity columns
    scd_type: Literal[1, 2] = 1

    @property
    def table_keys(self) -> tuple[str, ...]:
        """The columns that identify one row of the table (an SCD 2 table holds a row per version)."""
        return (*self.keys, SCD_START) if self.scd_type == 2 else self.keys

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> MergeSpec:
        sequence = doc.get("sequence_by", ())
        sequence_by = (sequence,) if isinstance(sequence, str) else tuple(sequence)
        tombstones: TombstoneSpec | None = None
        setting = doc.get("tombstones", True)
        if setting is not False and sequence_by and doc.get("delete_when") is not None:
            options = setting if isinstance(setting, dict) else {}
            tombstones = TombstoneSpec(
                retention=options.get("retention", DEFAULT_TOMBSTONE_RETENTION),
                path=options.get("path"),
                table=options.get("table"),
            )
        return cls(
            keys=tuple(doc.get("keys", ())),
            sequence_by=sequence_by,
            delete_when=doc.get("delete_when"),
            when_matched=doc.get("when_matched", "update"),
            tombstones=tombstones,
            scd_type=2 if doc.get("scd_type") == 2 else 1,
        )


@dataclass(frozen=True)
class WindowSpec:
    """A tumbling window (``duration``) or a session window (``gap``) over a time column."""

    column: str
    duration: str | None = None
    gap: str | None = None

    @property
    def is_session(self) -> bool:
        return self.gap is not None


@dataclass(frozen=True)
class AggregateSpec:
    measures: dict[str, str]
    group_by: tuple[str, ...] = ()
    window: WindowSpec | None = None

    @property
    def group_columns(self) -> tuple[str, ...]:
        """The output columns that identify one group (the MERGE keys of the aggregate table)."""
        window_cols = (WINDOW_START, WINDOW_END) if self.window else ()
        return window_cols + self.group_by

    @property
    def touch_columns(self) -> tuple[str, ...]:
        """The columns that say which groups a batch touches and must be recomputed: the window
        and group_by for tumbling windows; only group_by for session windows, whose bounds move
        as events arrive (every session of a touched key is recomputed)."""
        if self.window is not None and self.window.is_session:
            return self.group_by
        return self.group_columns


OnFail = Literal["drop", "dead_letter", "fail"]
#: Parameters every expression may use without declaring them; their values change per batch.
BUILTIN_PARAMS = ("batch_id",)


@dataclass(frozen=True)
class Expectation:
    """A named SQL check on a sink's rows. A row fails when the check is false or null."""

    name: str
    check: str
    on_fail: OnFail = "dead_letter"


@dataclass(frozen=True)
class SinkSpec:
    """One output table and how the batch becomes its rows."""

    name: str
    mode: SinkMode
    path: str | None = None
    table: str | None = None
    upstream: str | None = None
    where: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    select: tuple[str, ...] = ()
    dedupe: DedupeSpec | None = None
    merge: MergeSpec | None = None
    replace_where: str | None = None
    aggregate: AggregateSpec | None = None
    partition_by: tuple[str, ...] = ()
    options: dict[str, str] = field(default_factory=dict)
    merge_schema: bool = False
    expect: tuple[Expectation, ...] = ()
    #: rows of this sink's input that no sibling route (same input, with a ``where``) selects
    catch_all: bool = False

    @property
    def ref(self) -> TableRef:
        return TableRef(self.path, self.table)

    @property
    def tombstone_ref(self) -> TableRef | None:
        """Where this CDC sink keeps its tombstones (None: it keeps none)."""
        if self.merge is None or self.merge.tombstones is None:
            return None
        tombstones = self.merge.tombstones
        if tombstones.path is not None or tombstones.table is not None:
            return TableRef(tombstones.path, tombstones.table)
        if self.path is not None:
            return TableRef(path=self.path.rstrip("/") + "/_fanout_tombstones")
        return TableRef(table=f"{self.table}__fanout_tombstones")

    @property
    def merge_keys(self) -> tuple[str, ...]:
        """Keys of a merge sink: declared ones, or the group columns of an aggregate."""
        if self.merge is not None:
            return self.merge.keys
        if self.aggregate is not None:
            return self.aggregate.group_columns
        return ()

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> SinkSpec:
        dd, mg, ag = doc.get("dedupe"), doc.get("merge"), doc.get("aggregate")
        window = ag.get("window") if ag else None
        return cls(
            name=doc["name"],
            mode=doc["mode"],
            path=doc.get("path"),
            table=doc.get("table"),
            upstream=doc.get("from"),
            where=doc.get("where"),
            columns=dict(doc.get("columns", {})),
            select=tuple(doc.get("select", ())),
            dedupe=DedupeSpec(tuple(dd["keys"]), dd.get("order_by")) if dd else None,
            merge=MergeSpec.from_dict(mg) if mg is not None else None,
            replace_where=doc.get("replace_where"),
            aggregate=(
                AggregateSpec(
                    measures=dict(ag["measures"]),
                    group_by=tuple(ag.get("group_by", ())),
                    window=WindowSpec(window["column"], window.get("duration"), window.get("gap")) if window else None,
                )
                if ag
                else None
            ),
            partition_by=tuple(doc.get("partition_by", ())),
            options=_string_options(doc.get("options", {})),
            merge_schema=bool(doc.get("merge_schema", False)),
            catch_all=bool(doc.get("catch_all", False)),
            expect=tuple(
                Expectation(e["name"], e["check"], e.get("on_fail", "dead_letter")) for e in doc.get("expect", ())
            ),
        )


@dataclass(frozen=True)
class FanOutSpec:
    """A whole, validated spec with its parameters resolved."""

    app_id: str
    source: SourceSpec
    run: RunSpec
    sinks: tuple[SinkSpec, ...]
    params: dict[str, Scalar] = field(default_factory=dict)
    dead_letter: TableRef | None = None
    version: int = SPEC_VERSION

    def sink(self, name: str) -> SinkSpec:
        for sink in self.sinks:
            if sink.name == name:
                return sink
        raise KeyError(name)

    @property
    def slice_key(self) -> str | None:
        return self.run.slice.key if self.run.slice else None

    @property
    def storage_paths(self) -> list[str]:
        """Every path the run reads or writes: source, checkpoint, sink and dead-letter tables."""
        found = [self.source.path, self.run.checkpoint, *(s.path for s in self.sinks)]
        found.append(self.dead_letter.path if self.dead_letter is not None else None)
        return [p for p in found if p]

    @property
    def uses_s3(self) -> bool:
        """Whether any of ``storage_paths`` is in S3 (``s3a://``, ``s3://``, ``s3n://``): the run
        needs Hadoop's S3A connector."""
        return any(p.split("://", 1)[0].lower() in ("s3a", "s3", "s3n") for p in self.storage_paths if "://" in p)

    def view_kind(self, sink: SinkSpec) -> ViewKind | None:
        """How ``sink`` follows its upstream table, when it is a view of it:

        - ``aggregate``: an aggregate ``from`` any sink, equal to the same aggregate over the
          upstream table after every batch;
        - ``keyed``: a ``merge`` sink ``from`` a ``merge`` (or aggregate) sink: one row per upstream
          key, equal to the upstream table filtered and projected by the sink's transforms;
        - ``changes``: an ``append`` sink ``from`` a ``merge`` sink: a log of the upstream table's
          changes (inserts, update pre/post images, deletes).

        Views are maintained from the upstream table's Change Data Feed. None: the sink reads its
        upstream's rows of each batch (an upstream that appends), or reads the source."""
        if sink.upstream is None:
            return None
        if sink.aggregate is not None:
            return "aggregate"
        if self.sink(sink.upstream).mode != "merge":
            return None
        return "keyed" if sink.mode == "merge" else "changes"

    def table_keys(self, sink: SinkSpec) -> tuple[str, ...]:
        """The columns that identify one row of ``sink``'s table: its merge keys (plus
        ``__start_at`` for SCD type 2), an aggregate's group columns, a keyed view's upstream keys;
        empty for tables without keys (append, overwrite, a log of changes)."""
        if sink.aggregate is not None:
            return sink.aggregate.group_columns
        if self.view_kind(sink) == "keyed":
            assert sink.upstream is not None
            return self.table_keys(self.sink(sink.upstream))
        if sink.mode == "merge" and sink.merge is not None:
            return sink.merge.table_keys
        return ()

    def appends_rows(self, sink: SinkSpec) -> bool:
        """Whether each commit of ``sink`` only appends its rows of the batch (a stream's append
        sinks): its changes in that commit are exactly those rows, no Change Data Feed needed."""
        return self.run.mode == "stream" and sink.mode == "append" and self.view_kind(sink) in (None, "changes")

    def feeds_views(self, sink: SinkSpec) -> bool:
        """Whether some view reads ``from`` ``sink`` (its table then records its changes)."""
        return any(s.upstream == sink.name and self.view_kind(s) is not None for s in self.sinks)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> FanOutSpec:
        return cls(
            app_id=doc["app_id"],
            source=SourceSpec.from_dict(doc["source"]),
            run=RunSpec.from_dict(doc["run"]),
            sinks=tuple(SinkSpec.from_dict(s) for s in doc["sinks"]),
            params=dict(doc.get("params", {})),
            dead_letter=TableRef.from_dict(doc["dead_letter"]) if "dead_letter" in doc else None,
            version=doc["version"],
        )


def _string_options(options: dict[str, Any]) -> dict[str, str]:
    """Spark reader/writer options are strings; JSON booleans become 'true'/'false'."""
    return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in options.items()}
