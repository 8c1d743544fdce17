"""Turn a batch into a sink's rows: where, columns, dedupe, select, aggregate.

Every SQL expression is evaluated with its ``:name`` parameters bound as ``lit()`` columns
(``airflow_fanout.spec.params``), never pasted into SQL text."""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from airflow_fanout.spec.model import WINDOW_END, WINDOW_START, AggregateSpec, Scalar, SinkSpec, WindowSpec
from airflow_fanout.spec.params import PARAM_COLUMN_PREFIX, bind_markers, param_column, param_names


def with_params(frame: DataFrame, exprs: list[str], params: Mapping[str, Scalar]) -> DataFrame:
    """``frame`` plus one literal column for each parameter the expressions use."""
    used = {name for expr in exprs for name in param_names(expr)}
    if not used:
        return frame
    return frame.withColumns({param_column(name): F.lit(params[name]) for name in sorted(used)})


def drop_params(frame: DataFrame) -> DataFrame:
    hidden = [c for c in frame.columns if c.startswith(PARAM_COLUMN_PREFIX)]
    return frame.drop(*hidden) if hidden else frame


def expr(sql: str) -> Column:
    """An expression Column with its parameter markers bound to their literal columns."""
    return F.expr(bind_markers(sql))


def filter_with_params(frame: DataFrame, where: str, params: Mapping[str, Scalar]) -> DataFrame:
    return drop_params(with_params(frame, [where], params).where(expr(where)))


def _sink_exprs(sink: SinkSpec) -> list[str]:
    exprs = [e for e in (sink.where,) if e]
    exprs += list(sink.columns.values()) + list(sink.select)
    if sink.dedupe and sink.dedupe.order_by:
        exprs.append(sink.dedupe.order_by)
    return exprs


def sink_rows(frame: DataFrame, sink: SinkSpec, params: Mapping[str, Scalar], keep: tuple[str, ...] = ()) -> DataFrame:
    """The rows ``sink`` writes (before any aggregate): where -> columns -> dedupe -> select.
    ``keep``: columns of ``frame`` carried through ``select`` (a view's change sign)."""
    out = with_params(frame, _sink_exprs(sink), params)
    if sink.where:
        out = out.where(expr(sink.where))
    if sink.columns:
        out = out.withColumns({name: expr(sql) for name, sql in sink.columns.items()})
    if sink.dedupe is not None:
        out = dedupe(out, list(sink.dedupe.keys), sink.dedupe.order_by)
    if sink.select:
        hidden = [c for c in out.columns if c.startswith(PARAM_COLUMN_PREFIX) or c in keep]
        out = out.select(*[expr(s) for s in sink.select], *hidden)
    return drop_params(out)


def dedupe(frame: DataFrame, keys: list[str], order_by: str | None) -> DataFrame:
    """One row per key: the first by ``order_by`` (e.g. ``event_time DESC``), or any one without it."""
    if order_by is None:
        return frame.dropDuplicates(keys)
    order = [_order_column(part.strip()) for part in _split_top_level(order_by)]
    rank = F.row_number().over(Window.partitionBy(*keys).orderBy(*order))
    return frame.withColumn("__fanout_rank", rank).where("__fanout_rank = 1").drop("__fanout_rank")


def _order_column(part: str) -> Column:
    upper = part.upper()
    for suffix, make in ((" DESC", Column.desc_nulls_last), (" ASC", Column.asc_nulls_last)):
        if upper.endswith(suffix):
            return make(expr(part[: -len(suffix)]))
    return expr(part).asc_nulls_last()


def _split_top_level(sql: str) -> list[str]:
    """Split ``a DESC, f(b, c)`` on commas outside brackets and quotes."""
    parts, depth, quote, current = [], 0, "", ""
    for ch in sql:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += ch
    parts.append(current)
    return [p for p in parts if p.strip()]


def _window_column(window: WindowSpec) -> Column:
    if window.is_session:
        return F.session_window(F.col(window.column), window.gap or "")
    return F.window(F.col(window.column), window.duration or "")


def group_columns(frame: DataFrame, aggregate: AggregateSpec) -> DataFrame:
    """``frame`` with ``window_start``/``window_end`` added for a tumbling window (a session
    window's bounds exist only after grouping)."""
    if aggregate.window is None or aggregate.window.is_session:
        return frame
    return (
        frame.withColumn("__fanout_window", _window_column(aggregate.window))
        .withColumns({WINDOW_START: F.col("__fanout_window.start"), WINDOW_END: F.col("__fanout_window.end")})
        .drop("__fanout_window")
    )


def touched_groups(rows: DataFrame, aggregate: AggregateSpec) -> DataFrame:
    """The distinct touch keys (see ``AggregateSpec.touch_columns``) that ``rows`` fall in."""
    return group_columns(rows, aggregate).select(*aggregate.touch_columns).distinct()


def aggregate_groups(
    rows: DataFrame,
    aggregate: AggregateSpec,
    params: Mapping[str, Scalar],
    extra: Mapping[str, Column] | None = None,
    extra_sql: list[str] | None = None,
) -> DataFrame:
    """The aggregate of ``rows``: one row per group (window bounds, group_by), measures named as
    in the spec, then the ``extra`` aggregates (whose SQL, ``extra_sql``, may use parameters)."""
    keyed = with_params(rows, list(aggregate.measures.values()) + (extra_sql or []), params)
    measures = [expr(sql).alias(name) for name, sql in aggregate.measures.items()]
    measures += [column.alias(name) for name, column in (extra or {}).items()]
    names = [*aggregate.measures, *(extra or {})]
    if aggregate.window is None:
        return keyed.groupBy(*aggregate.group_by).agg(*measures)
    grouped = keyed.groupBy(_window_column(aggregate.window).alias("__fanout_window"), *aggregate.group_by)
    return grouped.agg(*measures).select(
        F.col("__fanout_window.start").alias(WINDOW_START),
        F.col("__fanout_window.end").alias(WINDOW_END),
        *aggregate.group_by,
        *names,
    )


def null_safe_join_condition(left: str, right: str, columns: list[str] | tuple[str, ...]) -> str:
    """``l.a <=> r.a AND ...``: group and merge keys may be null and must still match."""
    return " AND ".join(f"{left}.`{c}` <=> {right}.`{c}`" for c in columns)
