"""Aggregate views: an aggregate sink equals its aggregate over the upstream table after every
batch, at the cost of what the batch changed.

Input: the upstream's changes (``driver.changes``), each row signed +1 (entered the table) or -1
(left it: a delete or an update's pre-image), already through the sink's where/columns/select and
expectations. Then, per touched group:

- decomposable measures (``spec.measures``): the group's state (row count, non-null counts, sums,
  minima, maxima) moves by the changes' deltas in one MERGE, without reading the upstream; a
  group whose row count reaches 0 is deleted;
- a group a row left, when some measure is a min or max, and every touched group when a measure
  is not decomposable (``count(DISTINCT ...)``, ``percentile``, ...): recomputed from the upstream
  table at the view's version, reading only the touched windows (or group values) through a
  predicate Delta can skip files with;
- session windows: the sessions of each touched key around the changed times, recomputed from
  the upstream rows of that key and time range (a change can merge or split sessions).

A rebuild (the view's first write, or a lost change feed) aggregates the whole upstream table.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from airflow_fanout.driver.changes import SIGN
from airflow_fanout.driver.plan import merge_ranges
from airflow_fanout.driver.sinks import run_merge
from airflow_fanout.driver.tables import delta_table, merge_condition, read_table, replace_whole
from airflow_fanout.driver.transforms import (
    aggregate_groups,
    expr,
    group_columns,
    null_safe_join_condition,
    with_params,
)
from airflow_fanout.spec.measures import MeasurePlan, StateColumn, plan_measures
from airflow_fanout.spec.model import WINDOW_END, WINDOW_START, AggregateSpec, Scalar, SinkSpec
from airflow_fanout.spec.params import param_names

log = logging.getLogger("airflow_fanout.driver")

KIND = "__fanout_kind"  # a MERGE source row: 'delta' (add to the group), 'set' (replace it), 'delete'
_LEFT = "__fanout_left"  # a row left the group in this batch (its min/max may have risen)
_REGION_START, _REGION_END = "__fanout_from", "__fanout_until"
#: At most this many time ranges or group values go into a pruning predicate (then merged/dropped).
MAX_PREDICATE_RANGES = 64
MAX_PREDICATE_VALUES = 1000


@dataclass(frozen=True)
class AggregateWrite:
    """One write of an aggregate view.

    ``changes``: signed upstream rows after the sink's transforms (``SIGN``). ``upstream_rows``:
    the upstream table at the view's version through the same transforms, given an optional
    filter on raw upstream columns that Delta can skip files with; ``prunable``: the upstream
    columns such a filter may use (the sink's transforms leave them as they are)."""

    sink: SinkSpec
    session: SparkSession
    changes: DataFrame
    upstream_rows: Callable[[Column | None], DataFrame]
    prunable: frozenset[str]
    plan: MeasurePlan
    params: Mapping[str, Scalar]
    txn_app_id: str
    txn_version: int
    table_exists: bool
    rebuild: bool
    record_changes: bool = False
    #: persists a frame read more than once until the batch ends (the runner unpersists it)
    keep: Callable[[DataFrame], DataFrame] = lambda frame: frame


def measure_plan(sink: SinkSpec, rows: DataFrame, params: Mapping[str, Scalar]) -> MeasurePlan:
    """The measure plan of ``sink``, checked with Spark's analyzer: a rewritten measure that still
    aggregates (``percentile``), or reads a non-state column, makes every measure recomputed."""
    aggregate = sink.aggregate
    assert aggregate is not None
    plan = plan_measures(aggregate.measures)
    if not plan.decomposable:
        return plan
    assert plan.rewritten is not None
    if any(param_names(sql) for sql in plan.rewritten.values()):
        # the rewritten measures run as MERGE SQL text, where no parameter column exists
        return MeasurePlan(decomposable=False, reason="a measure uses a :parameter outside its aggregate calls")
    if aggregate.window is not None and aggregate.window.is_session:
        return MeasurePlan(decomposable=False, reason="session windows are recomputed per touched key")
    states = state_frame(rows, aggregate, plan, params)
    probe = states.sparkSession.createDataFrame([], StructType([states.schema[s.name] for s in plan.states]))
    assert plan.rewritten is not None
    for name, sql in plan.rewritten.items():
        try:
            probe.withColumn("__fanout_probe", F.expr(sql)).schema  # noqa: B018 - analysis only
        except Exception as exc:
            reason = f"measure {name!r} is not made of count/sum/avg/min/max alone ({str(exc).splitlines()[0]})"
            return MeasurePlan(decomposable=False, reason=reason)
    return plan


def state_frame(
    rows: DataFrame, aggregate: AggregateSpec, plan: MeasurePlan, params: Mapping[str, Scalar]
) -> DataFrame:
    """One row per group of ``rows``: group columns, every measure (its own SQL), hidden state."""
    hidden = [s for s in plan.states if not s.visible]
    extra = {s.name: _state_aggregate(s, None) for s in hidden}
    return aggregate_groups(rows, aggregate, params, extra=extra, extra_sql=[s.arg for s in hidden if s.arg])


def _state_aggregate(state: StateColumn, sign: Column | None) -> Column:
    """The aggregate of one state over rows; with ``sign``, its delta over signed changes."""
    if state.kind == "rows":
        return F.count(F.lit(1)) if sign is None else F.sum(sign)
    arg = expr(state.arg or "")
    if state.kind == "count":
        return F.count(arg) if sign is None else F.sum(F.when(arg.isNotNull(), sign).otherwise(F.lit(0)))
    if state.kind == "sum":
        return F.sum(arg) if sign is None else F.sum(F.when(arg.isNotNull(), sign * arg))
    entered = arg if sign is None else F.when(sign > 0, arg)
    return F.min(entered) if state.kind == "min" else F.max(entered)


def write_aggregate(write: AggregateWrite) -> None:
    """Bring the aggregate table to the view's version (see the module docstring)."""
    aggregate = write.sink.aggregate
    assert aggregate is not None
    if write.rebuild or not write.table_exists:
        _write_whole(write, aggregate)
        return
    window = aggregate.window
    if window is not None and window.is_session:
        source = _session_changes(write, aggregate)
    elif write.plan.decomposable:
        source = _delta_changes(write, aggregate)
    else:
        source = _recomputed_groups(write, aggregate, group_columns(write.changes, aggregate))
    _merge(write, aggregate, source)


def _write_whole(write: AggregateWrite, aggregate: AggregateSpec) -> None:
    """The whole aggregate: of the changes (a first batch: all inserts) or of the upstream table."""
    rows = write.upstream_rows(None) if write.rebuild else write.changes.drop(SIGN)
    groups = state_frame(rows, aggregate, write.plan, write.params) if write.plan.decomposable else None
    if groups is None:
        groups = aggregate_groups(rows, aggregate, write.params)
    replace_whole(
        groups,
        write.sink,
        write.txn_app_id,
        write.txn_version,
        exists=write.table_exists,
        record_changes=write.record_changes,
    )


# -- decomposable measures ------------------------------------------------------------------------
def _delta_changes(write: AggregateWrite, aggregate: AggregateSpec) -> DataFrame:
    """Delta rows per touched group; groups a row left are recomputed when min/max are kept."""
    plan = write.plan
    keyed = group_columns(with_params(write.changes, [s.arg for s in plan.states if s.arg], write.params), aggregate)
    sign = F.col(SIGN)
    types = _state_types(write, aggregate)
    deltas = [_state_aggregate(s, sign).cast(types[s.name].dataType).alias(s.name) for s in plan.states]
    if plan.has_extrema:
        deltas.append(F.max(sign < 0).alias(_LEFT))
    groups = keyed.groupBy(*aggregate.group_columns).agg(*deltas)
    if not plan.has_extrema:
        return groups.withColumn(KIND, F.lit("delta"))
    groups = write.keep(groups)
    left = groups.where(F.col(_LEFT)).select(*aggregate.group_columns)
    recomputed = _recomputed_groups(write, aggregate, left)
    kept = groups.where(~F.col(_LEFT)).drop(_LEFT).withColumn(KIND, F.lit("delta"))
    return kept.unionByName(recomputed, allowMissingColumns=True)


def _state_types(write: AggregateWrite, aggregate: AggregateSpec) -> StructType:
    return state_frame(write.changes.drop(SIGN), aggregate, write.plan, write.params).schema


def _combined(plan: MeasurePlan, types: StructType, target: str | None) -> dict[str, str]:
    """SQL of each state after adding the source's delta (``s``) to the target's value (``t``),
    or of the delta alone for a new group (``target`` None)."""
    out: dict[str, str] = {}
    for state in plan.states:
        name = f"`{state.name}`"
        source = f"s.{name}"
        if state.kind in ("rows", "count"):
            out[state.name] = f"(t.{name} + {source})" if target else source
        elif state.kind == "sum":
            count = f"`{plan.state('count', state.arg).name}`"
            total = f"coalesce(t.{name}, 0) + coalesce({source}, 0)" if target else source
            nonnull = f"t.{count} + s.{count}" if target else f"s.{count}"
            cast = types[state.name].dataType.simpleString()
            out[state.name] = f"CASE WHEN {nonnull} = 0 THEN NULL ELSE CAST({total} AS {cast}) END"
        else:
            function = "least" if state.kind == "min" else "greatest"
            out[state.name] = f"{function}(t.{name}, {source})" if target else source
    return out


def _measure_values(plan: MeasurePlan, states: dict[str, str], types: StructType) -> dict[str, str]:
    """SQL of every column of a group (state and measures) from the states' SQL."""
    assert plan.rewritten is not None
    values = dict(states)
    for name, sql in plan.rewritten.items():
        if name in values:
            continue
        substituted = re.sub(
            r"`([^`]+)`", lambda m: f"({states[m.group(1)]})" if m.group(1) in states else m.group(0), sql
        )
        values[name] = f"CAST({substituted} AS {types[name].dataType.simpleString()})"
    return values


# -- recomputed groups ----------------------------------------------------------------------------
def _recomputed_groups(write: AggregateWrite, aggregate: AggregateSpec, touched: DataFrame) -> DataFrame:
    """``set`` rows for the ``touched`` groups (group columns) recomputed from the upstream table,
    ``delete`` rows for those no upstream row is in any more. The upstream is read through a
    predicate on the touched windows (or group values), so Delta reads only their files."""
    columns = aggregate.group_columns
    touched = write.keep(touched.select(*columns).distinct())
    predicate = _touched_predicate(write, aggregate, touched)
    rows = group_columns(write.upstream_rows(predicate), aggregate)
    condition = expr(null_safe_join_condition("u", "g", columns))
    affected = rows.alias("u").join(F.broadcast(touched).alias("g"), condition, "left_semi")
    if aggregate.window is not None:
        affected = affected.drop(WINDOW_START, WINDOW_END)
    if write.plan.decomposable:
        groups = state_frame(affected, aggregate, write.plan, write.params)
    else:
        groups = aggregate_groups(affected, aggregate, write.params)
    vanished = touched.alias("g").join(
        groups.alias("n"), expr(null_safe_join_condition("g", "n", columns)), "left_anti"
    )
    return groups.withColumn(KIND, F.lit("set")).unionByName(
        vanished.withColumn(KIND, F.lit("delete")), allowMissingColumns=True
    )


def _touched_predicate(write: AggregateWrite, aggregate: AggregateSpec, touched: DataFrame) -> Column | None:
    """A filter on raw upstream columns that keeps every row of the touched groups and lets
    Delta skip files: the touched windows as time ranges, else the touched group values. None
    when the sink's transforms redefine those columns (then the whole table is read)."""
    window = aggregate.window
    prunable = write.prunable
    if window is not None and window.column in prunable:
        bounds = touched.select(F.unix_micros(WINDOW_START), F.unix_micros(WINDOW_END)).distinct().collect()
        ranges = merge_ranges([(int(a), int(b)) for a, b in bounds], MAX_PREDICATE_RANGES)
        return _in_ranges(F.col(window.column), ranges)
    keyed = [c for c in aggregate.group_by if c in prunable]
    if not keyed:
        log.warning(
            "sink %s: its group columns are computed by its transforms: a recompute reads the whole upstream",
            write.sink.name,
        )
        return None
    values = touched.select(*keyed).distinct().limit(MAX_PREDICATE_VALUES + 1).collect()
    if len(values) > MAX_PREDICATE_VALUES:
        return None
    predicate: Column | None = None
    for i, column in enumerate(keyed):
        seen = {row[i] for row in values}
        present = [v for v in seen if v is not None]
        clause = F.col(column).isin(present) if present else F.lit(False)
        if None in seen:
            clause = clause | F.col(column).isNull()
        predicate = clause if predicate is None else predicate & clause
    return predicate


def _in_ranges(column: Column, ranges: list[tuple[int, int]]) -> Column:
    predicate = F.lit(False)
    for start, end in ranges:
        since, until = F.timestamp_micros(F.lit(start)), F.timestamp_micros(F.lit(end))
        predicate = predicate | ((column >= since) & (column < until))
    return predicate


# -- session windows ------------------------------------------------------------------------------
def _session_changes(write: AggregateWrite, aggregate: AggregateSpec) -> DataFrame:
    """The sessions of each touched key around its changed times, recomputed; the table's
    sessions of that region that no longer exist, deleted.

    For a key whose changes fall in ``[lo, hi]``, a session can change only if it overlaps
    ``[lo - gap, hi + gap)``; the region is that range widened to those sessions' bounds, and no
    row outside it is within ``gap`` of a row inside (sessions are ``gap`` apart). The upstream
    rows of the key in the region give its sessions exactly."""
    window = aggregate.window
    assert window is not None and window.gap is not None
    keys, time = list(aggregate.group_by), window.column
    gap = F.expr(f"INTERVAL {window.gap}")
    changed = write.changes.groupBy(*keys).agg(F.min(time).alias("lo"), F.max(time).alias("hi"))
    hull = changed.select(*keys, (F.col("lo") - gap).alias("lo"), (F.col("hi") + gap).alias("hi"))
    existing = read_table(write.session, write.sink.ref).select(*keys, WINDOW_START, WINDOW_END)
    overlapping = existing.alias("e").join(
        hull.alias("h"),
        expr(null_safe_join_condition("e", "h", keys))
        & (F.col(f"e.{WINDOW_END}") > F.col("h.lo"))
        & (F.col(f"e.{WINDOW_START}") < F.col("h.hi")),
        "inner",
    )
    bounds = overlapping.groupBy(*[F.col(f"h.`{k}`").alias(k) for k in keys]).agg(
        F.min(f"e.{WINDOW_START}").alias("s"), F.max(f"e.{WINDOW_END}").alias("e")
    )
    region = write.keep(
        hull.alias("h")
        .join(bounds.alias("b"), expr(null_safe_join_condition("h", "b", keys)), "left")
        .select(
            *[F.col(f"h.`{k}`").alias(k) for k in keys],
            F.least(F.col("h.lo"), F.coalesce(F.col("b.s"), F.col("h.lo"))).alias(_REGION_START),
            F.greatest(F.col("h.hi"), F.coalesce(F.col("b.e"), F.col("h.hi"))).alias(_REGION_END),
        )
    )
    predicate = _region_predicate(write, region, keys, time)
    rows = write.upstream_rows(predicate)
    in_region = rows.alias("u").join(
        F.broadcast(region).alias("r"),
        expr(null_safe_join_condition("u", "r", keys))
        & (F.col(f"u.`{time}`") >= F.col(f"r.{_REGION_START}"))
        & (F.col(f"u.`{time}`") < F.col(f"r.{_REGION_END}")),
        "left_semi",
    )
    sessions = aggregate_groups(in_region, aggregate, write.params)
    stale = (
        read_table(write.session, write.sink.ref)
        .alias("e")
        .join(
            F.broadcast(region).alias("r"),
            expr(null_safe_join_condition("e", "r", keys))
            & (F.col(f"e.{WINDOW_START}") >= F.col(f"r.{_REGION_START}"))
            & (F.col(f"e.{WINDOW_END}") <= F.col(f"r.{_REGION_END}")),
            "left_semi",
        )
        .select(*aggregate.group_columns)
    )
    stale = stale.alias("e").join(
        sessions.alias("n"), expr(null_safe_join_condition("e", "n", aggregate.group_columns)), "left_anti"
    )
    return sessions.withColumn(KIND, F.lit("set")).unionByName(
        stale.withColumn(KIND, F.lit("delete")), allowMissingColumns=True
    )


def _region_predicate(write: AggregateWrite, region: DataFrame, keys: list[str], time: str) -> Column | None:
    """One time range over every touched key's region (and the keys, when few): Delta skips the
    files outside it; the exact per-key region is applied after."""
    if time not in write.prunable:
        return None
    row = region.agg(F.unix_micros(F.min(_REGION_START)), F.unix_micros(F.max(_REGION_END))).first()
    if row is None or row[0] is None:
        return F.lit(False)
    return _in_ranges(F.col(time), [(int(row[0]), int(row[1]))])


# -- the MERGE --------------------------------------------------------------------------------------
def _merge(write: AggregateWrite, aggregate: AggregateSpec, source: DataFrame) -> None:
    """Apply ``delta``, ``set`` and ``delete`` rows to the aggregate table in one MERGE."""
    columns = aggregate.group_columns
    table = read_table(write.session, write.sink.ref).schema
    missing = [f for f in table.fields if f.name not in source.columns]
    source = source.withColumns({f.name: F.lit(None).cast(f.dataType) for f in missing}) if missing else source
    plain = {f.name: f"s.`{f.name}`" for f in table.fields}
    source = write.keep(source)
    kind = f"s.`{KIND}`"
    builder = (
        delta_table(write.session, write.sink.ref).alias("t").merge(source.alias("s"), merge_condition(source, columns))
    )
    plan = write.plan
    if plan.decomposable and not (aggregate.window is not None and aggregate.window.is_session):
        types = _state_types(write, aggregate)
        rows = f"`{next(s.name for s in plan.states if s.kind == 'rows')}`"
        added = _measure_values(plan, _combined(plan, types, "t"), types)
        fresh = _measure_values(plan, _combined(plan, types, None), types)
        builder = (
            builder.whenMatchedDelete(condition=f"{kind} = 'delete' OR ({kind} = 'delta' AND t.{rows} + s.{rows} <= 0)")
            .whenMatchedUpdate(condition=f"{kind} = 'set'", set=dict(plain))
            .whenMatchedUpdate(set=dict(added))
            .whenNotMatchedInsert(condition=f"{kind} = 'set'", values=dict(plain))
            .whenNotMatchedInsert(
                condition=f"{kind} = 'delta' AND s.{rows} > 0",
                values={**{c: f"s.`{c}`" for c in columns}, **fresh},
            )
        )
    else:
        builder = (
            builder.whenMatchedDelete(condition=f"{kind} = 'delete'")
            .whenMatchedUpdate(set=dict(plain))
            .whenNotMatchedInsert(condition=f"{kind} = 'set'", values=dict(plain))
        )
    run_merge(write.session, write.txn_app_id, write.txn_version, builder)


def prunable_columns(sink: SinkSpec, upstream_columns: list[str]) -> frozenset[str]:
    """Upstream columns a filter may use before the sink's transforms: those ``columns`` does not
    replace and ``select`` (if any) keeps under their own name."""
    kept = set(upstream_columns) - set(sink.columns)
    if sink.select:
        kept &= {s.strip().strip("`") for s in sink.select}
    return frozenset(kept)
