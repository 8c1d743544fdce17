"""Which measures are kept from changes (count, sum, avg, min, max, also wrapped) and with which
state columns; everything else is recomputed per touched group."""

from __future__ import annotations

import pytest

from airflow_fanout.spec.measures import ROWS_COLUMN, aggregate_calls, plan_measures


def test_calls_are_found_outside_strings_and_comments() -> None:
    sql = "round(sum(amount), 2) + max(`min(x)`) /* count(y) */ + length('sum(z)')"
    assert [(c.function, c.arg) for c in aggregate_calls(sql)] == [("sum", "amount"), ("max", "`min(x)`")]


def test_calls_need_a_bracket_and_a_whole_name() -> None:
    assert aggregate_calls("summary + count_if(x) + t.max") == []
    assert [(c.function, c.arg) for c in aggregate_calls("COUNT (*)")] == [("count", "*")]


def test_plain_measures_are_their_own_state() -> None:
    plan = plan_measures({"events": "count(*)", "revenue": "sum(amount)", "top": "max(amount)"})
    assert plan.decomposable
    assert [(s.name, s.kind, s.arg, s.visible) for s in plan.states] == [
        ("events", "rows", None, True),
        ("revenue", "sum", "amount", True),
        ("__fanout_count_0", "count", "amount", False),
        ("top", "max", "amount", True),
    ]
    assert plan.has_extrema
    assert plan.rewritten == {"events": "`events`", "revenue": "`revenue`", "top": "`top`"}


def test_wrapped_and_averaged_measures_get_hidden_state() -> None:
    plan = plan_measures({"avg_amount": "round(avg(amount), 4)", "share": "sum(x) / count(1)"})
    assert [(s.name, s.kind, s.arg) for s in plan.states] == [
        (ROWS_COLUMN, "rows", None),
        ("__fanout_sum_0", "sum", "amount"),
        ("__fanout_count_0", "count", "amount"),
        ("__fanout_sum_1", "sum", "x"),
        ("__fanout_count_1", "count", "x"),
    ]
    assert not any(s.visible for s in plan.states)
    assert plan.rewritten is not None
    assert plan.rewritten["avg_amount"] == "round(try_divide(`__fanout_sum_0`, `__fanout_count_0`), 4)"
    assert plan.rewritten["share"] == f"`__fanout_sum_1` / `{ROWS_COLUMN}`"
    assert not plan.has_extrema


def test_a_count_of_a_column_counts_non_null_values() -> None:
    plan = plan_measures({"n": "count(user_id)"})
    assert [(s.name, s.kind, s.visible) for s in plan.states] == [(ROWS_COLUMN, "rows", False), ("n", "count", True)]


@pytest.mark.parametrize(
    ("measure", "reason"),
    [
        ("count(DISTINCT user_id)", "counts values"),
        ("sum(amount) FILTER (WHERE amount > 0)", "FILTER"),
        ("percentile(amount, 0.5)", "no count/sum/avg/min/max"),
        ("42", "no count/sum/avg/min/max"),
    ],
)
def test_other_measures_are_recomputed(measure: str, reason: str) -> None:
    plan = plan_measures({"events": "count(*)", "m": measure})
    assert not plan.decomposable
    assert plan.reason is not None and reason in plan.reason
    assert plan.states == ()
