"""Order the sinks, decide what to persist, and what each view applies. Pure Python (no Spark):
unit-tested on its own.

A sink reading ``from`` another sink starts once its upstream is written, because a view applies
the upstream *table*'s changes, which must hold this batch first; every other
sink starts as soon as a thread is free. ``waves`` (the sinks by depth in the ``from`` graph)
describe the plan in logs; the writes follow ``schedule`` and ``upstream``, so a downstream sink
does not wait for unrelated sinks of its upstream's wave (the benchmark's hourly aggregate used
to wait for every route)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from airflow_fanout.spec.model import FanOutSpec, SinkSpec

SOURCE = "<source>"


@dataclass(frozen=True)
class BatchPlan:
    """How one batch is written: ``waves`` of sink names, and which frames to persist."""

    waves: tuple[tuple[str, ...], ...]
    #: frames read more than once in a batch (``SOURCE`` for the batch itself, or a sink name)
    persist: frozenset[str]
    max_parallel: int
    #: sink -> the sink it reads ``from`` (sinks reading the source are absent)
    upstream: Mapping[str, str] = field(default_factory=dict)

    @property
    def order(self) -> tuple[str, ...]:
        """Every sink, upstreams first, declaration order within a level (the report's order)."""
        return tuple(name for wave in self.waves for name in wave)

    @property
    def schedule(self) -> tuple[str, ...]:
        """The order sinks start in when more are ready than there are threads: most downstream
        sinks first (the sinks waiting on them start sooner), then the deepest in a ``from``
        chain (a sink whose upstream was just written is the rest of a chain already under way:
        started behind independent routes, it would finish the batch last; the benchmark's hourly
        aggregate waited 22 s for a free thread at 4M rows), then ``order``. Still upstreams
        first: a sink has more downstream sinks than any of its own downstream sinks."""
        below = {name: 0 for name in self.order}
        depth = {name: 0 for name in self.order}
        for name in self.order:
            up = self.upstream.get(name)
            while up is not None:
                below[up] += 1
                depth[name] += 1
                up = self.upstream.get(up)
        position = {name: i for i, name in enumerate(self.order)}
        return tuple(sorted(self.order, key=lambda n: (-below[n], -depth[n], position[n])))

    def ready(self, name: str, written: Mapping[str, object]) -> bool:
        """Whether ``name`` may start once the sinks in ``written`` are written."""
        up = self.upstream.get(name)
        return up is None or up in written


def consumers(spec: FanOutSpec) -> dict[str, list[str]]:
    """For the source and each sink: the sinks that read its rows."""
    readers: dict[str, list[str]] = {SOURCE: []}
    for sink in spec.sinks:
        readers.setdefault(sink.name, [])
    for sink in spec.sinks:
        readers[sink.upstream or SOURCE].append(sink.name)
    return readers


def _depth(sink: SinkSpec, by_name: dict[str, SinkSpec]) -> int:
    depth, node = 0, sink
    while node.upstream is not None:
        depth += 1
        node = by_name[node.upstream]
    return depth


def plan_batch(spec: FanOutSpec) -> BatchPlan:
    """The write plan of every batch of ``spec`` (validated: no cycles, known upstreams)."""
    by_name = {s.name: s for s in spec.sinks}
    depths = {s.name: _depth(s, by_name) for s in spec.sinks}
    waves = tuple(
        tuple(s.name for s in spec.sinks if depths[s.name] == level) for level in range(max(depths.values()) + 1)
    )
    readers = consumers(spec)
    # A sink's rows are used by its own write plus each downstream sink reading them (a view reads
    # its upstream's table instead, unless it may take the batch's rows), plus its tombstones; the
    # source by each reader.
    uses = {
        name: (0 if name == SOURCE else 1) + sum(1 for r in readers[name] if _reads_rows(spec, spec.sink(r)))
        for name in readers
    }
    for sink in spec.sinks:
        if sink.tombstone_ref is not None:
            uses[sink.name] += 1
    persist = frozenset(name for name, count in uses.items() if count > 1)
    upstream = {s.name: s.upstream for s in spec.sinks if s.upstream is not None}
    return BatchPlan(waves=waves, persist=persist, max_parallel=spec.run.max_parallel_sinks, upstream=upstream)


def _reads_rows(spec: FanOutSpec, sink: SinkSpec) -> bool:
    """Whether ``sink`` reads its input's rows of the batch (a view of a table that only appends
    may; other views read the table's changes)."""
    if spec.view_kind(sink) is None or sink.upstream is None:
        return True
    return spec.appends_rows(spec.sink(sink.upstream))


def catch_all_where(spec: FanOutSpec, sink: SinkSpec) -> str | None:
    """For a ``catch_all`` sink: the rows none of its sibling routes (sinks reading the same input
    with a ``where``) select. A route whose ``where`` is null for a row does not select it."""
    if not sink.catch_all:
        return sink.where
    routes = [s.where for s in spec.sinks if s.upstream == sink.upstream and s.where and s is not sink]
    return "NOT (" + " OR ".join(f"COALESCE(({w}), FALSE)" for w in routes) + ")"


# -- views ---------------------------------------------------------------------------------------
ChangeSource = Literal["rows", "feed", "rebuild"]


@dataclass(frozen=True)
class ChangeRange:
    """What a view applies in one write: upstream versions ``first``..``last`` (inclusive), read
    as ``source``. ``first`` is -1 for a rebuild (everything up to ``last``)."""

    first: int
    last: int
    source: ChangeSource

    @property
    def describe(self) -> str:
        if self.source == "rebuild":
            return f"rebuilt from version {self.last}"
        if self.first == self.last:
            return f"changes of version {self.last}" + (" (the batch's rows)" if self.source == "rows" else "")
        return f"changes of versions {self.first}..{self.last}"


def plan_range(
    view_version: int | None, upstream_version: int, batch_commit: int | None, rows_only: bool
) -> ChangeRange | None:
    """The range a view must apply to reach ``upstream_version``, or None when it is there.

    ``view_version``: the upstream version the view recorded (None: never written);
    ``batch_commit``: the upstream's commit of this batch when it was written now (None: skipped);
    ``rows_only``: the upstream's commits only append its batch rows."""
    if view_version is not None and view_version >= upstream_version:
        return None
    if view_version is None:
        if rows_only and batch_commit == 0 and upstream_version == 0:
            return ChangeRange(0, 0, "rows")  # both tables start with this batch
        return ChangeRange(-1, upstream_version, "rebuild")
    first = view_version + 1
    if rows_only and batch_commit is not None and first == batch_commit == upstream_version:
        return ChangeRange(first, upstream_version, "rows")
    return ChangeRange(first, upstream_version, "feed")


def merge_ranges(ranges: list[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
    """``[start, end)`` ranges sorted and joined where they touch, then the closest ones joined
    until at most ``limit`` remain (a superset: it may read more, never less)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    while len(merged) > limit:
        gaps = [merged[i + 1][0] - merged[i][1] for i in range(len(merged) - 1)]
        i = gaps.index(min(gaps))
        merged[i : i + 2] = [(merged[i][0], merged[i + 1][1])]
    return merged
