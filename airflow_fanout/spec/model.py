"""The spec as typed, immutable objects. Built only from a document that passed validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Scalar = str | int | float | bool
SinkMode = Literal["append", "overwrite", "merge"]
RunMode = Literal["stream", "batch"]
WhenMatched = Literal["update", "ignore"]
SourceFormat = Literal["delta", "json", "parquet", "csv", "rate", "table"]

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


@dataclass(frozen=True)
class MergeSpec:
    keys: tuple[str, ...]
    sequence_by: str | None = None
    delete_when: str | None = None
    #: ``update``: an upsert; ``ignore``: insert new keys only, never touch an existing row (an
    #: insert-only MERGE, which Delta runs without rewriting any target file).
    when_matched: WhenMatched = "update"


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
            merge=(
                MergeSpec(
                    tuple(mg.get("keys", ())),
                    mg.get("sequence_by"),
                    mg.get("delete_when"),
                    mg.get("when_matched", "update"),
                )
                if mg
                else None
            ),
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
