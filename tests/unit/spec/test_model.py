"""The typed spec model and txn app id naming. Pure Python."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from airflow_fanout.spec import (
    AggregateSpec,
    FanOutSpec,
    RunSpec,
    SinkSpec,
    SourceSpec,
    TableRef,
    Trigger,
    parse_spec,
    txn_app_id,
)
from airflow_fanout.spec.model import DEFAULT_MAX_PARALLEL_SINKS, WINDOW_END, WINDOW_START, WindowSpec
from airflow_fanout.spec.naming import dead_letter_app_id, sink_app_id, tombstone_app_id


def doc(mode: str = "stream", **run: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "version": 1,
        "app_id": "shop_events",
        "source": {"format": "delta", "path": "/lake/in"},
        "run": {"mode": mode, "checkpoint": "/chk", **run},
        "sinks": [
            {"name": "bronze", "mode": "append", "path": "/lake/bronze"},
            {"name": "silver", "mode": "merge", "table": "cat.db.silver", "merge": {"keys": ["id", "ts"]}},
        ],
    }
    if mode == "batch":
        d["params"] = {"ds": "2026-11-01"}
        d["run"].setdefault("slice", {"key": ":ds", "where": "d = :ds"})
    return d


def test_table_ref_target() -> None:
    assert TableRef(path="/lake/x").target == "/lake/x"
    assert TableRef(table="cat.db.x").target == "table:cat.db.x"
    assert TableRef.from_dict({"table": "t"}) == TableRef(None, "t")
    assert TableRef.from_dict({"path": "/p"}) == TableRef("/p", None)


def test_source_options_become_strings() -> None:
    src = SourceSpec.from_dict(
        {"format": "csv", "path": "/in", "options": {"header": True, "inferSchema": False, "n": 5, "f": 1.5, "s": "x"}}
    )
    assert src.options == {"header": "true", "inferSchema": "false", "n": "5", "f": "1.5", "s": "x"}
    assert src.table is None and src.schema is None and src.where is None


@pytest.mark.parametrize(
    ("raw", "trigger"),
    [
        (None, Trigger("available_now", None)),
        ({}, Trigger("available_now", None)),
        ({"available_now": True}, Trigger("available_now", None)),
        ({"once": True}, Trigger("once", None)),
        ({"processing_time": "10 seconds"}, Trigger("processing_time", "10 seconds")),
    ],
)
def test_trigger_from_dict(raw: dict[str, Any] | None, trigger: Trigger) -> None:
    assert Trigger.from_dict(raw) == trigger


def test_run_defaults() -> None:
    run = RunSpec.from_dict({"mode": "stream", "checkpoint": "/chk"})
    assert run == RunSpec(mode="stream", checkpoint="/chk")
    assert run.trigger == Trigger("available_now")
    assert run.max_parallel_sinks == DEFAULT_MAX_PARALLEL_SINKS == 4
    assert run.timeout_seconds is None
    assert run.slice is None


def test_sink_defaults() -> None:
    sink = SinkSpec.from_dict({"name": "s", "mode": "append", "path": "/p"})
    assert sink == SinkSpec(name="s", mode="append", path="/p")
    assert sink.upstream is None
    assert sink.columns == {} and sink.select == () and sink.partition_by == () and sink.options == {}
    assert sink.dedupe is None and sink.merge is None and sink.aggregate is None
    assert sink.merge_schema is False
    assert sink.merge_keys == ()
    assert sink.ref == TableRef("/p", None)


def test_merge_keys_come_from_merge_or_aggregate_group_columns() -> None:
    merge = SinkSpec.from_dict({"name": "m", "mode": "merge", "path": "/m", "merge": {"keys": ["a", "b"]}})
    assert merge.merge_keys == ("a", "b")
    agg = SinkSpec.from_dict(
        {
            "name": "g",
            "mode": "merge",
            "path": "/g",
            "from": "m",
            "aggregate": {
                "window": {"column": "ts", "duration": "5 minutes"},
                "group_by": ["type", "region"],
                "measures": {"n": "count(*)"},
            },
        }
    )
    assert agg.upstream == "m"
    assert agg.aggregate is not None
    assert agg.aggregate.window == WindowSpec("ts", "5 minutes")
    assert agg.aggregate.group_columns == (WINDOW_START, WINDOW_END, "type", "region")
    assert agg.merge_keys == ("window_start", "window_end", "type", "region")
    assert AggregateSpec(measures={"n": "count(*)"}, group_by=("k",)).group_columns == ("k",)


def test_spec_is_immutable() -> None:
    spec = parse_spec(doc())
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.app_id = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.sinks[0].mode = "merge"  # type: ignore[misc]
    assert isinstance(spec.sinks, tuple)


def test_spec_sink_lookup() -> None:
    spec = parse_spec(doc())
    assert spec.sink("silver").table == "cat.db.silver"
    assert spec.sink("silver").merge_keys == ("id", "ts")
    with pytest.raises(KeyError):
        spec.sink("gold")


def test_from_dict_keeps_version_and_params() -> None:
    spec = FanOutSpec.from_dict({**doc(), "params": {"a": 1}})
    assert spec.version == 1
    assert spec.params == {"a": 1}
    assert spec.slice_key is None


# ----------------------------------------------------------------------------- naming


def test_txn_app_id() -> None:
    assert txn_app_id("shop_events", "silver") == "shop_events.silver"
    assert txn_app_id("shop_events", "silver", None) == "shop_events.silver"
    assert txn_app_id("shop_backfill", "gold", "2026-11-01") == "shop_backfill.gold.2026-11-01"
    assert txn_app_id("a", "b", "") == "a.b."  # an empty key is still a slice (never produced by a valid spec)


def test_sink_app_id_stream_has_no_slice() -> None:
    spec = parse_spec(doc())
    assert [sink_app_id(spec, s) for s in spec.sinks] == ["shop_events.bronze", "shop_events.silver"]


def test_sink_app_id_batch_uses_resolved_slice_key() -> None:
    spec = parse_spec(doc("batch"), {"ds": "2026-11-02"})
    assert [sink_app_id(spec, s) for s in spec.sinks] == [
        "shop_events.bronze.2026-11-02",
        "shop_events.silver.2026-11-02",
    ]


def test_slices_get_distinct_app_ids() -> None:
    one = parse_spec(doc("batch"), {"ds": "2026-11-01"})
    two = parse_spec(doc("batch"), {"ds": "2026-11-02"})
    assert sink_app_id(one, one.sinks[0]) != sink_app_id(two, two.sinks[0])


def medallion_with_views() -> FanOutSpec:
    def sink(name: str, mode: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, "mode": mode, "path": f"/lake/{name}", **extra}

    cdc = {"keys": ["id"], "sequence_by": ["ts", "seq"], "delete_when": "op = 'D'"}
    return parse_spec(
        {
            "version": 1,
            "app_id": "views",
            "source": {"format": "delta", "path": "/lake/in"},
            "run": {"mode": "batch", "checkpoint": "/chk", "slice": {"key": "d1", "where": "true"}},
            "sinks": [
                sink("bronze", "append"),
                sink("silver", "merge", merge=cdc),
                sink("history", "merge", merge={**cdc, "scd_type": 2, "tombstones": False}),
                sink("route", "merge", **{"from": "silver", "where": "kind = 'a'"}),
                sink("log", "append", **{"from": "silver"}),
                sink("copy", "append", **{"from": "bronze"}),
                sink(
                    "gold", "merge", **{"from": "bronze"}, aggregate={"group_by": ["k"], "measures": {"n": "count(*)"}}
                ),
                sink("of_gold", "merge", **{"from": "gold"}),
            ],
        }
    )


def test_views_are_the_sinks_that_follow_an_upstream_table() -> None:
    spec = medallion_with_views()
    kinds = {s.name: spec.view_kind(s) for s in spec.sinks}
    assert kinds == {
        "bronze": None,
        "silver": None,
        "history": None,
        "route": "keyed",
        "log": "changes",
        "copy": None,  # reads bronze's rows of each batch
        "gold": "aggregate",
        "of_gold": "keyed",
    }
    keys = {s.name: spec.table_keys(s) for s in spec.sinks}
    assert keys["silver"] == ("id",) and keys["history"] == ("id", "__start_at")
    assert keys["route"] == ("id",) and keys["of_gold"] == ("k",) and keys["log"] == ()
    assert [s.name for s in spec.sinks if spec.feeds_views(s)] == ["bronze", "silver", "gold"]
    # A view is of a table, not of a slice: one app id in every run
    assert sink_app_id(spec, spec.sink("route")) == "views.route"
    assert sink_app_id(spec, spec.sink("copy")) == "views.copy.d1"
    assert dead_letter_app_id(spec, "route") == "views._dead_letter.route"
    assert tombstone_app_id(spec, spec.sink("silver")) == "views._tombstones.silver.d1"


def test_cdc_settings_and_tombstone_tables() -> None:
    spec = medallion_with_views()
    silver, history = spec.sink("silver"), spec.sink("history")
    assert silver.merge is not None and silver.merge.sequence_by == ("ts", "seq")
    assert silver.tombstone_ref == TableRef(path="/lake/silver/_fanout_tombstones")
    assert history.merge is not None and history.merge.scd_type == 2 and history.tombstone_ref is None
    named = SinkSpec.from_dict(
        {
            "name": "t",
            "mode": "merge",
            "table": "db.t",
            "merge": {"keys": ["id"], "sequence_by": "ts", "delete_when": "x"},
        }
    )
    assert named.tombstone_ref == TableRef(table="db.t__fanout_tombstones")
