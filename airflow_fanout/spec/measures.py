"""Which aggregate measures can be kept up to date from changes alone, and with what state.

An aggregate sink is a view: after every batch it equals its aggregate over the upstream table.
Recomputing the groups a batch touches reads the upstream rows of those groups; for the
*decomposable* measures that is not needed: ``count``, ``sum`` and ``avg`` (as sum / count) move
by what the batch inserted and removed, ``min`` and ``max`` by what it inserted (a group a row
left must be recomputed). This module finds the aggregate calls inside each measure's SQL (also
wrapped, e.g. ``round(sum(amount), 2)`` or ``sum(a) / count(*)``) and plans the state columns
that hold them. Pure Python: the driver checks with Spark's analyzer that nothing else in a
measure aggregates (``percentile(x, 0.5)``, ``count(DISTINCT x)``, ``sum(x) FILTER (...)``); such
an aggregate is recomputed for its touched groups instead.

State columns are the measure columns themselves where a measure *is* one call (``count(*)``,
``sum(amount)``, ``min(ts)``), and hidden ``__fanout_*`` columns otherwise: the rows of a group
(``__fanout_rows``, which tells when a group is empty and must be deleted), the non-null count of
each summed argument (a sum over no non-null value is null), the sum and count behind an ``avg``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

StateKind = Literal["rows", "count", "sum", "min", "max"]
ROWS_COLUMN = "__fanout_rows"
_DECOMPOSABLE = frozenset({"count", "sum", "avg", "min", "max"})
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LITERAL = re.compile(r"^(\*|[0-9]+(\.[0-9]*)?|'[^']*'|true|false)$", re.IGNORECASE)


@dataclass(frozen=True)
class StateColumn:
    """One value kept per group: ``kind`` of ``arg`` (None for ``rows``), in column ``name``."""

    name: str
    kind: StateKind
    arg: str | None = None
    #: a measure column of the table (True), or a hidden ``__fanout_*`` column (False)
    visible: bool = False


@dataclass(frozen=True)
class AggregateCall:
    """One aggregate call inside a measure, at ``sql[start:end]``."""

    start: int
    end: int
    function: str
    arg: str


@dataclass(frozen=True)
class MeasurePlan:
    """How an aggregate sink's measures are maintained.

    ``decomposable`` False: no state; every touched group is recomputed from the upstream table.
    Otherwise ``states`` are kept per group and ``rewritten[name]`` computes measure ``name`` from
    them (SQL over the state columns, backquoted)."""

    decomposable: bool
    states: tuple[StateColumn, ...] = ()
    rewritten: dict[str, str] | None = None
    #: the measures' own SQL was kept (not decomposable): why, for the log
    reason: str | None = None

    @property
    def has_extrema(self) -> bool:
        """Whether some state is a min or max, which a removed row can only lower by a recompute."""
        return any(s.kind in ("min", "max") for s in self.states)

    @property
    def hidden(self) -> tuple[StateColumn, ...]:
        return tuple(s for s in self.states if not s.visible)

    def state(self, kind: StateKind, arg: str | None) -> StateColumn:
        for s in self.states:
            if s.kind == kind and s.arg == arg:
                return s
        raise KeyError((kind, arg))


def _skip_quoted(sql: str, i: int) -> int:
    """Index just past the string, identifier or comment starting at ``i`` (or ``i`` itself)."""
    ch = sql[i]
    if ch in ("'", '"'):
        j = i + 1
        while j < len(sql):
            if sql[j] == "\\":
                j += 2
                continue
            if sql[j] == ch:
                return j + 1
            j += 1
        return len(sql)
    if ch == "`":
        end = sql.find("`", i + 1)
        return len(sql) if end < 0 else end + 1
    if sql.startswith("--", i):
        end = sql.find("\n", i)
        return len(sql) if end < 0 else end + 1
    if sql.startswith("/*", i):
        end = sql.find("*/", i + 2)
        return len(sql) if end < 0 else end + 2
    return i


def _closing_paren(sql: str, open_at: int) -> int:
    """Index of the ``)`` matching the ``(`` at ``open_at`` (validated SQL: brackets balance)."""
    depth, i = 0, open_at
    while i < len(sql):
        skipped = _skip_quoted(sql, i)
        if skipped != i:
            i = skipped
            continue
        if sql[i] == "(":
            depth += 1
        elif sql[i] == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ValueError(f"unbalanced brackets in {sql!r}")


def aggregate_calls(sql: str) -> list[AggregateCall]:
    """The calls of ``count``, ``sum``, ``avg``, ``min``, ``max`` in ``sql`` (outermost only),
    outside strings, quoted identifiers and comments."""
    calls: list[AggregateCall] = []
    i = 0
    while i < len(sql):
        skipped = _skip_quoted(sql, i)
        if skipped != i:
            i = skipped
            continue
        match = _IDENT.match(sql, i)
        if match is None or (i > 0 and (sql[i - 1].isalnum() or sql[i - 1] in "_.")):
            i += 1
            continue
        name, after = match.group(0), match.end()
        paren = after
        while paren < len(sql) and sql[paren].isspace():
            paren += 1
        if name.lower() in _DECOMPOSABLE and paren < len(sql) and sql[paren] == "(":
            close = _closing_paren(sql, paren)
            calls.append(AggregateCall(i, close + 1, name.lower(), sql[paren + 1 : close].strip()))
            i = close + 1
            continue
        i = after
    return calls


def _normalized(arg: str) -> str:
    return " ".join(arg.split())


def _blocker(sql: str, call: AggregateCall) -> str | None:
    """Why ``call`` cannot be kept from changes, or None."""
    words = call.arg.split(None, 1)
    if words and words[0].upper() == "DISTINCT":
        return f"{call.function}(DISTINCT ...) counts values, not rows"
    rest = sql[call.end :].lstrip().upper()
    for clause in ("FILTER", "OVER", "WITHIN"):
        if rest.startswith(clause) and (len(rest) == len(clause) or not rest[len(clause)].isalnum()):
            return f"{call.function}(...) {clause}"
    if not call.arg:
        return f"{call.function}() without an argument"
    return None


def plan_measures(measures: dict[str, str]) -> MeasurePlan:
    """The state that keeps ``measures`` (name -> SQL) up to date from changes, or a plan that
    recomputes touched groups when some measure is not made of count/sum/avg/min/max calls."""
    calls = {name: aggregate_calls(sql) for name, sql in measures.items()}
    for name, sql in measures.items():
        for call in calls[name]:
            blocker = _blocker(sql, call)
            if blocker is not None:
                return MeasurePlan(decomposable=False, reason=f"measure {name!r}: {blocker}")
        if not calls[name]:
            return MeasurePlan(decomposable=False, reason=f"measure {name!r} has no count/sum/avg/min/max")

    # What each measure needs, in order of first use: (kind, arg); rows always.
    needed: list[tuple[StateKind, str | None]] = [("rows", None)]

    def need(kind: StateKind, arg: str | None) -> None:
        if (kind, arg) not in needed:
            needed.append((kind, arg))

    def call_states(call: AggregateCall) -> list[tuple[StateKind, str | None]]:
        arg = _normalized(call.arg.removeprefix("ALL ").removeprefix("all "))
        if call.function == "count":
            return [("rows", None)] if _LITERAL.match(arg) else [("count", arg)]
        if call.function == "avg":
            return [("sum", arg), ("count", arg)]
        if call.function == "sum":
            return [("sum", arg), ("count", arg)]  # the count says when the sum is null
        extremum: StateKind = "min" if call.function == "min" else "max"
        return [(extremum, arg)]

    for name in measures:
        for call in calls[name]:
            for kind, arg in call_states(call):
                need(kind, arg)

    # A measure that is exactly one call holds that state itself.
    own: dict[tuple[StateKind, str | None], str] = {}
    for name, sql in measures.items():
        only = calls[name]
        if len(only) == 1 and only[0].start == len(sql) - len(sql.lstrip()) and not sql[only[0].end :].strip():
            call = only[0]
            if call.function != "avg":
                key = call_states(call)[0]
                own.setdefault(key, name)

    states: list[StateColumn] = []
    numbers: dict[str, int] = {}
    for kind, arg in needed:
        if (kind, arg) in own:
            states.append(StateColumn(own[(kind, arg)], kind, arg, visible=True))
            continue
        if kind == "rows":
            states.append(StateColumn(ROWS_COLUMN, "rows"))
            continue
        assert arg is not None
        number = numbers.setdefault(arg, len(numbers))
        states.append(StateColumn(f"__fanout_{kind}_{number}", kind, arg))

    plan = MeasurePlan(decomposable=True, states=tuple(states))
    rewritten: dict[str, str] = {}
    for name, sql in measures.items():
        out, last = [], 0
        for call in calls[name]:
            out.append(sql[last : call.start])
            kind, arg = call_states(call)[0]
            if call.function == "avg":
                total, count = plan.state("sum", arg).name, plan.state("count", arg).name
                out.append(f"try_divide(`{total}`, `{count}`)")
            else:
                out.append(f"`{plan.state(kind, arg).name}`")
            last = call.end
        out.append(sql[last:])
        rewritten[name] = "".join(out)
    return MeasurePlan(decomposable=True, states=tuple(states), rewritten=rewritten)
