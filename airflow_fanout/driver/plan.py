"""Order the sinks and decide what to persist. Pure Python (no Spark): unit-tested on its own.

Sinks that read the source directly form wave 0; a sink reading ``from`` another sink goes in a
later wave than its upstream, because an aggregate recomputes its groups from the upstream
*table*, which must hold this batch first. Sinks in one wave are written in parallel."""

from __future__ import annotations

from dataclasses import dataclass

from airflow_fanout.spec.model import FanOutSpec, SinkSpec

SOURCE = "<source>"


@dataclass(frozen=True)
class BatchPlan:
    """How one batch is written: ``waves`` of sink names, and which frames to persist."""

    waves: tuple[tuple[str, ...], ...]
    #: frames read more than once in a batch (``SOURCE`` for the batch itself, or a sink name)
    persist: frozenset[str]
    max_parallel: int

    @property
    def order(self) -> tuple[str, ...]:
        return tuple(name for wave in self.waves for name in wave)


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
    # A sink's rows are used by its own write plus each downstream sink; the source by each reader.
    uses = {name: len(r) + (0 if name == SOURCE else 1) for name, r in readers.items()}
    persist = frozenset(name for name, count in uses.items() if count > 1)
    return BatchPlan(waves=waves, persist=persist, max_parallel=spec.run.max_parallel_sinks)


def catch_all_where(spec: FanOutSpec, sink: SinkSpec) -> str | None:
    """For a ``catch_all`` sink: the rows none of its sibling routes (sinks reading the same input
    with a ``where``) select. A route whose ``where`` is null for a row does not select it."""
    if not sink.catch_all:
        return sink.where
    routes = [s.where for s in spec.sinks if s.upstream == sink.upstream and s.where and s is not sink]
    return "NOT (" + " OR ".join(f"COALESCE(({w}), FALSE)" for w in routes) + ")"
