"""Batch planning (waves, persist decisions). plan.py is pure Python: no Spark here."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from airflow_fanout.driver.plan import SOURCE, BatchPlan, ChangeRange, consumers, merge_ranges, plan_batch, plan_range
from airflow_fanout.spec import FanOutSpec, parse_spec


def make_spec(sinks: list[dict[str, Any]], **run: Any) -> FanOutSpec:
    return parse_spec(
        {
            "version": 1,
            "app_id": "plan_test",
            "source": {"format": "delta", "path": "/lake/in"},
            "run": {"mode": "stream", "checkpoint": "/chk", **run},
            "sinks": sinks,
        }
    )


def append(name: str, upstream: str | None = None) -> dict[str, Any]:
    sink: dict[str, Any] = {"name": name, "mode": "append", "path": f"/lake/{name}"}
    if upstream is not None:
        sink["from"] = upstream
    return sink


def aggregate(name: str, upstream: str) -> dict[str, Any]:
    return {
        "name": name,
        "mode": "merge",
        "path": f"/lake/{name}",
        "from": upstream,
        "aggregate": {"group_by": ["k"], "measures": {"n": "count(*)"}},
    }


def test_single_sink_persists_nothing() -> None:
    plan = plan_batch(make_spec([append("only")]))
    assert plan == BatchPlan(waves=(("only",),), persist=frozenset(), max_parallel=4)
    assert plan.order == ("only",)


def test_sinks_reading_the_source_form_one_wave_and_the_source_is_persisted() -> None:
    plan = plan_batch(make_spec([append("a"), append("b"), append("c")], max_parallel_sinks=2))
    assert plan.waves == (("a", "b", "c"),)
    assert plan.persist == frozenset({SOURCE})
    assert plan.max_parallel == 2


def test_medallion_plan() -> None:
    spec = make_spec(
        [
            append("bronze"),
            {"name": "silver", "mode": "merge", "path": "/lake/silver", "merge": {"keys": ["id"]}},
            aggregate("gold", "silver"),
        ]
    )
    plan = plan_batch(spec)
    assert plan.waves == (("bronze", "silver"), ("gold",))
    # gold is a view of silver's table (its changes), not of silver's rows: only the batch is
    # read twice; an aggregate of an append sink may take that sink's rows of the batch
    assert plan.persist == frozenset({SOURCE})
    assert plan.order == ("bronze", "silver", "gold")
    of_bronze = make_spec([append("bronze"), append("copy"), aggregate("gold", "bronze")])
    assert plan_batch(of_bronze).persist == frozenset({SOURCE, "bronze"})


def test_chain_declared_backwards_is_ordered_by_depth() -> None:
    plan = plan_batch(make_spec([append("c", "b"), append("b", "a"), append("a")]))
    assert plan.waves == (("a",), ("b",), ("c",))
    # the source has one reader; a and b each feed one downstream sink besides their own write
    assert plan.persist == frozenset({"a", "b"})
    assert plan.order == ("a", "b", "c")


def test_leaf_sinks_are_not_persisted_and_shared_upstream_is_persisted_once() -> None:
    spec = make_spec([append("base"), aggregate("agg1", "base"), aggregate("agg2", "base"), append("side")])
    plan = plan_batch(spec)
    assert plan.waves == (("base", "side"), ("agg1", "agg2"))
    assert plan.persist == frozenset({SOURCE, "base"})
    assert "agg1" not in plan.persist and "side" not in plan.persist


def test_wave_keeps_declaration_order_within_a_level() -> None:
    spec = make_spec([append("z"), append("y", "z"), append("x"), append("w", "x"), append("v", "w")])
    plan = plan_batch(spec)
    assert plan.waves == (("z", "x"), ("y", "w"), ("v",))


def test_every_sink_runs_after_its_upstream() -> None:
    spec = make_spec([append("d", "c"), append("a"), append("c", "b"), append("b", "a"), append("e", "a")])
    plan = plan_batch(spec)
    wave_of = {name: i for i, wave in enumerate(plan.waves) for name in wave}
    assert sorted(wave_of) == ["a", "b", "c", "d", "e"]
    for sink in spec.sinks:
        if sink.upstream is not None:
            assert wave_of[sink.name] == wave_of[sink.upstream] + 1
        else:
            assert wave_of[sink.name] == 0


def test_consumers() -> None:
    spec = make_spec([append("a"), append("b", "a"), append("c", "a"), append("d")])
    assert consumers(spec) == {SOURCE: ["a", "d"], "a": ["b", "c"], "b": [], "c": [], "d": []}


def test_plan_module_does_not_import_pyspark() -> None:
    code = "import sys, airflow_fanout.driver.plan; sys.exit(1 if 'pyspark' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_catch_all_where_is_the_complement_of_the_sibling_routes() -> None:
    from airflow_fanout.driver.plan import catch_all_where
    from airflow_fanout.spec import parse_spec, validate_spec

    base = {
        "version": 1,
        "app_id": "r",
        "source": {"format": "rate"},
        "run": {"mode": "stream", "checkpoint": "/cp"},
        "sinks": [
            {"name": "orders", "path": "/o", "mode": "append", "where": "kind = 'order'"},
            {"name": "refunds", "path": "/r", "mode": "append", "where": "kind = :k"},
            {"name": "copy", "path": "/c", "mode": "append"},
            {"name": "rest", "path": "/x", "mode": "append", "catch_all": True},
        ],
        "params": {"k": "refund"},
    }
    spec = parse_spec(base)
    assert catch_all_where(spec, spec.sink("rest")) == (
        "NOT (COALESCE((kind = 'order'), FALSE) OR COALESCE((kind = :k), FALSE))"
    )
    assert catch_all_where(spec, spec.sink("orders")) == "kind = 'order'"
    bad = {**base, "sinks": [{"name": "rest", "path": "/x", "mode": "append", "catch_all": True, "where": "x"}]}
    assert [(i.path, i.message) for i in validate_spec(bad)] == [
        ("sinks[0].where", "a catch_all sink takes the rows no other route selects: no 'where'"),
        ("sinks[0].catch_all", "needs at least one other sink with a 'where' on the same input"),
    ]


def test_a_sink_is_ready_once_its_upstream_is_written_and_not_before() -> None:
    plan = plan_batch(make_spec([append("bronze"), append("route"), aggregate("gold", "bronze")]))
    assert plan.upstream == {"gold": "bronze"}
    assert plan.ready("bronze", {}) and plan.ready("route", {})
    assert not plan.ready("gold", {}) and not plan.ready("gold", {"route": 1})
    assert plan.ready("gold", {"bronze": 1})  # not waiting for "route", its upstream's sibling


def test_schedule_starts_the_sinks_others_wait_on_first_and_keeps_upstreams_first() -> None:
    plan = plan_batch(
        make_spec(
            [
                append("route1"),
                append("route2"),
                append("bronze"),
                append("silver", "bronze"),
                aggregate("gold", "silver"),
                aggregate("daily", "route2"),
            ]
        )
    )
    # bronze feeds two sinks, route2 and silver one each; among equals the deeper sink first
    # (silver is one step into bronze's chain, gold two), then declaration order
    assert plan.schedule == ("bronze", "silver", "route2", "gold", "daily", "route1")
    assert plan.order == ("route1", "route2", "bronze", "silver", "daily", "gold")
    position = {name: i for i, name in enumerate(plan.schedule)}
    assert all(position[up] < position[down] for down, up in plan.upstream.items())


def test_schedule_puts_a_sink_whose_upstream_is_written_before_independent_routes() -> None:
    """The benchmark's shape: bronze, routes off the source, an aggregate from bronze. Once bronze
    is written, the aggregate takes the next free thread, not the routes still waiting."""
    plan = plan_batch(
        make_spec([append("bronze"), append("r1"), append("r2"), append("r3"), aggregate("hourly", "bronze")])
    )
    assert plan.schedule == ("bronze", "hourly", "r1", "r2", "r3")
    waiting = [n for n in plan.schedule if n != "bronze"]
    assert [n for n in waiting if plan.ready(n, {})] == ["r1", "r2", "r3"]
    assert next(n for n in waiting if plan.ready(n, {"bronze": 1})) == "hourly"


def test_a_cdc_sink_with_tombstones_persists_its_rows() -> None:
    merge: dict[str, Any] = {"keys": ["id"], "sequence_by": "ts", "delete_when": "op = 'D'"}
    cdc = {"name": "cdc", "mode": "merge", "path": "/lake/cdc", "merge": merge}
    assert make_spec([cdc]).sink("cdc").tombstone_ref is not None
    assert plan_batch(make_spec([cdc])).persist == frozenset({"cdc"})  # tombstones, then the MERGE
    merge["tombstones"] = False
    assert plan_batch(make_spec([cdc])).persist == frozenset()


def test_a_view_applies_the_batch_rows_the_feed_or_rebuilds() -> None:
    # already at the upstream's version: nothing to apply
    assert plan_range(7, 7, None, rows_only=False) is None
    # the usual batch: the one commit the upstream just wrote
    assert plan_range(6, 7, 7, rows_only=False) == ChangeRange(7, 7, "feed")
    assert plan_range(6, 7, 7, rows_only=True) == ChangeRange(7, 7, "rows")
    # a replay (upstream skipped) or another commit in between: the feed of the whole range
    assert plan_range(5, 7, None, rows_only=True) == ChangeRange(6, 7, "feed")
    assert plan_range(5, 7, 7, rows_only=True) == ChangeRange(6, 7, "feed")
    # a new view: both tables start now (rows), or the upstream has history (rebuild)
    assert plan_range(None, 0, 0, rows_only=True) == ChangeRange(0, 0, "rows")
    assert plan_range(None, 4, 4, rows_only=True) == ChangeRange(-1, 4, "rebuild")
    assert plan_range(None, 0, 0, rows_only=False) == ChangeRange(-1, 0, "rebuild")
    assert ChangeRange(6, 7, "feed").describe == "changes of versions 6..7"


def test_touched_windows_become_few_ranges() -> None:
    # adjacent windows join; then the closest ranges join until the limit holds
    assert merge_ranges([(10, 20), (0, 10), (40, 50), (55, 60)], 10) == [(0, 20), (40, 50), (55, 60)]
    assert merge_ranges([(10, 20), (0, 10), (40, 50), (55, 60)], 2) == [(0, 20), (40, 60)]
    assert merge_ranges([], 3) == []
