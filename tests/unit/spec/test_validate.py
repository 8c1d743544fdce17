"""Spec validation: schema and semantic rules, every error at once, each with its JSON path.

Pure Python: no Spark, no pyspark."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_fanout.exceptions import FanOutError, SpecError, SpecIssue
from airflow_fanout.spec import (
    AggregateSpec,
    DedupeSpec,
    FanOutSpec,
    MergeSpec,
    SliceSpec,
    SourceSpec,
    TombstoneSpec,
    Trigger,
    load_spec_file,
    parse_spec,
    validate_spec,
)
from airflow_fanout.spec.model import WindowSpec
from airflow_fanout.spec.validate import json_path, resolve_params, sql_fields


def stream_doc() -> dict[str, Any]:
    """A full, valid stream spec using every sink feature."""
    return {
        "version": 1,
        "app_id": "orders-fanout",
        "description": "orders -> raw, clean, daily totals, recent",
        "params": {"min_amount": 10, "region": "eu"},
        "source": {
            "format": "json",
            "path": "/data/landing",
            "schema": "id STRING, amount DOUBLE, ts TIMESTAMP, user STRING, region STRING, op STRING",
            "options": {"maxFilesPerTrigger": 5, "multiLine": True},
            "where": "region = :region",
        },
        "run": {
            "mode": "stream",
            "checkpoint": "/chk/orders",
            "trigger": {"processing_time": "30 seconds"},
            "max_parallel_sinks": 2,
            "timeout_seconds": 600,
        },
        "sinks": [
            {
                "name": "raw",
                "mode": "append",
                "path": "/lake/raw",
                "partition_by": ["region"],
                "options": {"optimizeWrite": True, "maxRecordsPerFile": 1000},
                "merge_schema": True,
            },
            {
                "name": "orders",
                "description": "clean orders, one row per id",
                "mode": "merge",
                "table": "main.orders",
                "where": "amount >= :min_amount",
                "columns": {"amount_cents": "CAST(amount * 100 AS BIGINT)"},
                "select": ["id", "amount_cents", "ts", "user", "op"],
                "dedupe": {"keys": ["id"], "order_by": "ts DESC"},
                "merge": {"keys": ["id"], "sequence_by": "ts", "delete_when": "op = 'D'"},
            },
            {
                "name": "daily",
                "mode": "merge",
                "path": "/lake/daily",
                "from": "orders",
                "aggregate": {
                    "window": {"column": "ts", "duration": "1 day"},
                    "group_by": ["user"],
                    "measures": {"total": "sum(amount_cents)", "n": "count(*)"},
                },
            },
            {
                "name": "recent",
                "mode": "overwrite",
                "path": "/lake/recent",
                "replace_where": "ts >= current_date() - INTERVAL 1 DAY",
            },
        ],
    }


def batch_doc() -> dict[str, Any]:
    """A valid batch (backfill) spec whose slice key is the parameter ``:ds``."""
    return {
        "version": 1,
        "app_id": "orders-backfill",
        "params": {"ds": "2024-01-01"},
        "source": {"format": "delta", "path": "/lake/raw"},
        "run": {
            "mode": "batch",
            "checkpoint": "/chk/backfill",
            "slice": {"key": ":ds", "where": "event_date = CAST(:ds AS DATE)", "run_version": 3},
        },
        "sinks": [
            {"name": "by_day", "mode": "overwrite", "path": "/lake/by_day"},
            {"name": "users", "mode": "merge", "table": "main.users", "merge": {"keys": ["user"]}},
        ],
    }


def paths(issues: list[SpecIssue]) -> list[str]:
    return [issue.path for issue in issues]


def issue_at(issues: list[SpecIssue], path: str) -> SpecIssue:
    found = [i for i in issues if i.path == path]
    assert len(found) == 1, f"expected one issue at {path!r}, got {issues}"
    return found[0]


# ----------------------------------------------------------------------------- valid specs


def test_valid_stream_spec_has_no_issues() -> None:
    assert validate_spec(stream_doc()) == []


def test_valid_batch_spec_has_no_issues() -> None:
    assert validate_spec(batch_doc()) == []


def test_valid_stream_spec_parses_into_typed_model() -> None:
    spec = parse_spec(stream_doc())
    assert isinstance(spec, FanOutSpec)
    assert spec.version == 1
    assert spec.app_id == "orders-fanout"
    assert spec.params == {"min_amount": 10, "region": "eu"}
    assert spec.source == SourceSpec(
        format="json",
        path="/data/landing",
        schema="id STRING, amount DOUBLE, ts TIMESTAMP, user STRING, region STRING, op STRING",
        options={"maxFilesPerTrigger": "5", "multiLine": "true"},
        where="region = :region",
    )
    assert spec.run.mode == "stream"
    assert spec.run.checkpoint == "/chk/orders"
    assert spec.run.trigger == Trigger("processing_time", "30 seconds")
    assert spec.run.max_parallel_sinks == 2
    assert spec.run.timeout_seconds == 600
    assert spec.run.slice is None
    assert spec.slice_key is None
    assert [s.name for s in spec.sinks] == ["raw", "orders", "daily", "recent"]

    raw = spec.sink("raw")
    assert raw.mode == "append"
    assert raw.path == "/lake/raw" and raw.table is None
    assert raw.partition_by == ("region",)
    assert raw.options == {"optimizeWrite": "true", "maxRecordsPerFile": "1000"}
    assert raw.merge_schema is True
    assert raw.upstream is None
    assert raw.merge_keys == ()

    orders = spec.sink("orders")
    assert orders.table == "main.orders" and orders.path is None
    assert orders.ref.target == "table:main.orders"
    assert orders.where == "amount >= :min_amount"
    assert orders.columns == {"amount_cents": "CAST(amount * 100 AS BIGINT)"}
    assert orders.select == ("id", "amount_cents", "ts", "user", "op")
    assert orders.dedupe == DedupeSpec(("id",), "ts DESC")
    assert orders.merge == MergeSpec(("id",), ("ts",), "op = 'D'", tombstones=TombstoneSpec())
    assert orders.merge_keys == ("id",)
    assert orders.merge_schema is False

    daily = spec.sink("daily")
    assert daily.upstream == "orders"
    assert daily.aggregate == AggregateSpec(
        measures={"total": "sum(amount_cents)", "n": "count(*)"},
        group_by=("user",),
        window=WindowSpec("ts", "1 day"),
    )
    assert daily.merge is None
    assert daily.merge_keys == ("window_start", "window_end", "user")

    recent = spec.sink("recent")
    assert recent.mode == "overwrite"
    assert recent.replace_where == "ts >= current_date() - INTERVAL 1 DAY"


def test_valid_batch_spec_parses_and_resolves_slice_key_from_params() -> None:
    spec = parse_spec(batch_doc())
    assert spec.run.mode == "batch"
    assert spec.run.trigger == Trigger("available_now")
    assert spec.run.max_parallel_sinks == 4
    assert spec.run.timeout_seconds is None
    assert spec.run.slice == SliceSpec("2024-01-01", "event_date = CAST(:ds AS DATE)", 3)
    assert spec.slice_key == "2024-01-01"
    assert spec.params == {"ds": "2024-01-01"}
    assert spec.source == SourceSpec(format="delta", path="/lake/raw")


def test_slice_key_param_override_wins_over_default() -> None:
    spec = parse_spec(batch_doc(), {"ds": "2024-02-29"})
    assert spec.slice_key == "2024-02-29"
    assert spec.params == {"ds": "2024-02-29"}


def test_literal_slice_key_is_kept_as_is() -> None:
    doc = batch_doc()
    doc["run"]["slice"]["key"] = "2023-12-31"
    assert parse_spec(doc).slice_key == "2023-12-31"


def test_numeric_slice_key_param_becomes_string() -> None:
    doc = batch_doc()
    doc["params"] = {"ds": 20240101}
    doc["run"]["slice"]["where"] = "day = :ds"
    assert parse_spec(doc).slice_key == "20240101"


def test_slice_key_param_not_defined() -> None:
    doc = batch_doc()
    doc["run"]["slice"] = {"key": ":day", "where": "event_date = '2024-01-01'"}
    assert validate_spec(doc) == [SpecIssue("run.slice.key", "parameter ':day' is not defined")]


def test_slice_key_param_resolving_to_invalid_key_is_reported() -> None:
    doc = batch_doc()
    issues = validate_spec(doc, {"ds": "2024/01/01"})
    assert paths(issues) == ["run.slice.key"]
    assert "'2024/01/01'" in issues[0].message


def test_parse_spec_does_not_mutate_input() -> None:
    doc = batch_doc()
    before = copy.deepcopy(doc)
    parse_spec(doc, {"ds": "2024-03-01"})
    assert doc == before


def test_source_format_table_without_path() -> None:
    doc = batch_doc()
    doc["source"] = {"format": "table", "table": "main.events"}
    spec = parse_spec(doc)
    assert spec.source.table == "main.events" and spec.source.path is None


def test_rate_stream_source_is_valid() -> None:
    doc = stream_doc()
    doc["source"] = {"format": "rate", "options": {"rowsPerSecond": 10}}
    doc["sinks"][1]["where"] = "amount >= 1"
    assert validate_spec(doc) == []


# ----------------------------------------------------------------------------- triggers


@pytest.mark.parametrize(
    ("trigger", "expected"),
    [
        (None, Trigger("available_now")),
        ({"available_now": True}, Trigger("available_now")),
        ({"once": True}, Trigger("once")),
        ({"processing_time": "5 minutes"}, Trigger("processing_time", "5 minutes")),
        ({"processing_time": "1 second"}, Trigger("processing_time", "1 second")),
    ],
)
def test_trigger_parses(trigger: dict[str, Any] | None, expected: Trigger) -> None:
    doc = stream_doc()
    if trigger is None:
        del doc["run"]["trigger"]
    else:
        doc["run"]["trigger"] = trigger
    assert parse_spec(doc).run.trigger == expected


@pytest.mark.parametrize(
    ("trigger", "path"),
    [
        ({"once": True, "available_now": True}, "run.trigger"),  # more than one
        ({}, "run.trigger"),  # none
        ({"once": False}, "run.trigger.once"),
        ({"available_now": "yes"}, "run.trigger.available_now"),
        ({"processing_time": "5 secs please"}, "run.trigger.processing_time"),
        ({"processing_time": "5"}, "run.trigger.processing_time"),
        ({"processing_time": 5}, "run.trigger.processing_time"),
        ({"continuous": "1 second"}, "run.trigger"),  # unknown kind
        ("once", "run.trigger"),
    ],
)
def test_bad_trigger(trigger: Any, path: str) -> None:
    doc = stream_doc()
    doc["run"]["trigger"] = trigger
    issues = validate_spec(doc)
    assert issues, "a bad trigger must be reported"
    assert set(paths(issues)) == {path}


def test_trigger_in_batch_mode() -> None:
    doc = batch_doc()
    doc["run"]["trigger"] = {"once": True}
    assert validate_spec(doc) == [SpecIssue("run.trigger", "only for mode 'stream'")]


# ----------------------------------------------------------------------------- schema errors


def test_not_an_object() -> None:
    assert validate_spec(["not", "a", "spec"]) == [SpecIssue("", "a spec must be a JSON object, not list")]
    with pytest.raises(SpecError) as info:
        parse_spec("spec")
    assert info.value.issues == [SpecIssue("", "a spec must be a JSON object, not str")]


def test_missing_required_top_level_keys_all_reported() -> None:
    issues = validate_spec({})
    assert paths(issues) == ["", "", "", "", ""]
    messages = sorted(i.message for i in issues)
    assert messages == sorted(f"{k!r} is required" for k in ("version", "app_id", "source", "run", "sinks"))


def test_unknown_keys_reported_with_their_parent_path() -> None:
    doc = stream_doc()
    doc["colour"] = "blue"
    doc["sinks"][1]["merge"]["keyz"] = ["id"]
    doc["sinks"][2]["aggregate"]["window"]["slide"] = "1 hour"
    doc["run"]["retries"] = 3
    issues = validate_spec(doc)
    assert issues == [
        SpecIssue("", "unknown key(s) 'colour'"),
        SpecIssue("run", "unknown key(s) 'retries'"),
        SpecIssue("sinks[1].merge", "unknown key(s) 'keyz'"),
        SpecIssue("sinks[2].aggregate.window", "unknown key(s) 'slide'"),
    ]


def test_wrong_types_all_reported_with_paths() -> None:
    doc = stream_doc()
    doc["run"]["max_parallel_sinks"] = "4"
    doc["run"]["timeout_seconds"] = -1
    doc["sinks"][0]["partition_by"] = "region"
    doc["sinks"][0]["merge_schema"] = "yes"
    doc["sinks"][1]["dedupe"]["keys"] = []
    doc["sinks"][1]["select"] = []
    doc["params"]["limit"] = [1, 2]
    doc["source"]["options"]["nested"] = {"a": 1}
    issues = validate_spec(doc)
    assert sorted(set(paths(issues))) == [
        "params.limit",
        "run.max_parallel_sinks",
        "run.timeout_seconds",
        "sinks[0].merge_schema",
        "sinks[0].partition_by",
        "sinks[1].dedupe.keys",
        "sinks[1].select",
        "source.options.nested",
    ]
    assert issue_at(issues, "run.max_parallel_sinks").message == "'4' is not of type 'integer'"


def test_max_parallel_sinks_bounds() -> None:
    for bad in (0, 65):
        doc = stream_doc()
        doc["run"]["max_parallel_sinks"] = bad
        assert paths(validate_spec(doc)) == ["run.max_parallel_sinks"]
    doc = stream_doc()
    doc["run"]["max_parallel_sinks"] = 64
    assert validate_spec(doc) == []


def test_bad_version() -> None:
    doc = stream_doc()
    doc["version"] = 2
    assert paths(validate_spec(doc)) == ["version"]


def test_bad_run_mode() -> None:
    doc = stream_doc()
    doc["run"]["mode"] = "micro-batch"
    assert validate_spec(doc) == [SpecIssue("run.mode", "'micro-batch' is not one of 'stream', 'batch'")]


def test_bad_sink_mode() -> None:
    doc = stream_doc()
    doc["sinks"][3]["mode"] = "upsert"
    assert validate_spec(doc) == [SpecIssue("sinks[3].mode", "'upsert' is not one of 'append', 'overwrite', 'merge'")]


def test_bad_source_format() -> None:
    doc = stream_doc()
    doc["source"]["format"] = "kafka"
    assert paths(validate_spec(doc)) == ["source.format"]


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("app_id", "1starts-with-digit"),
        ("app_id", "has space"),
        ("app_id", "has.dot"),
        ("sink_name", "has-dash"),
        ("sink_name", "_underscore_first"),
        ("slice_key", "has.dot"),
        ("slice_key", "-dash-first"),
        ("slice_key", ":1bad"),
        ("slice_key", "x" * 65),
        ("param_name", "bad-name"),
    ],
)
def test_identifier_patterns(where: str, value: str) -> None:
    doc = batch_doc()
    if where == "app_id":
        doc["app_id"] = value
        path = "app_id"
    elif where == "sink_name":
        doc["sinks"][0]["name"] = value
        path = "sinks[0].name"
    elif where == "slice_key":
        doc["run"]["slice"]["key"] = value
        path = "run.slice.key"
    else:
        doc["params"][value] = "x"
        path = "params"
    assert paths(validate_spec(doc)) == [path]


def test_bad_window_duration() -> None:
    doc = stream_doc()
    doc["sinks"][2]["aggregate"]["window"]["duration"] = "daily"
    assert paths(validate_spec(doc)) == ["sinks[2].aggregate.window.duration"]


def test_empty_sinks_and_empty_sql() -> None:
    doc = stream_doc()
    doc["sinks"] = []
    assert paths(validate_spec(doc)) == ["sinks"]
    doc = stream_doc()
    doc["sinks"][1]["where"] = ""
    assert paths(validate_spec(doc)) == ["sinks[1].where"]


def test_schema_errors_stop_before_semantic_rules() -> None:
    # A schema error is reported alone: the semantic rules need a schema-valid document.
    doc = stream_doc()
    doc["run"]["mode"] = "bogus"
    doc["sinks"][1]["merge"] = {}  # merge without keys would be a semantic issue
    assert paths(validate_spec(doc)) == ["run.mode"]


# ----------------------------------------------------------------------------- semantic rules


def test_merge_sink_without_keys() -> None:
    doc = stream_doc()
    del doc["sinks"][1]["merge"]
    assert validate_spec(doc) == [SpecIssue("sinks[1].merge.keys", "required for mode 'merge'")]


def test_merge_sink_with_merge_but_no_keys() -> None:
    doc = stream_doc()
    doc["sinks"][1]["merge"] = {"sequence_by": "ts"}
    assert validate_spec(doc) == [SpecIssue("sinks[1].merge.keys", "required for mode 'merge'")]


def test_first_sink_merge_without_keys_has_path_sinks_0() -> None:
    doc = batch_doc()
    doc["sinks"] = [{"name": "m", "mode": "merge", "path": "/lake/m"}]
    with pytest.raises(SpecError) as info:
        parse_spec(doc)
    assert [i.path for i in info.value.issues] == ["sinks[0].merge.keys"]
    assert "sinks[0].merge.keys: required for mode 'merge'" in str(info.value)


def test_merge_block_on_non_merge_sink() -> None:
    doc = stream_doc()
    doc["sinks"][0]["merge"] = {"keys": ["id"]}
    assert validate_spec(doc) == [SpecIssue("sinks[0].merge", "only for mode 'merge', not 'append'")]


def test_overwrite_in_stream_needs_replace_where_but_not_in_batch() -> None:
    doc = stream_doc()
    del doc["sinks"][3]["replace_where"]
    assert paths(validate_spec(doc)) == ["sinks[3].replace_where"]
    assert validate_spec(batch_doc()) == []  # batch_doc's overwrite sink replaces the slice


def test_replace_where_on_non_overwrite_sink() -> None:
    doc = stream_doc()
    doc["sinks"][0]["replace_where"] = "region = 'eu'"
    assert validate_spec(doc) == [SpecIssue("sinks[0].replace_where", "only for mode 'overwrite', not 'append'")]


def test_sink_needs_exactly_one_of_path_or_table() -> None:
    doc = stream_doc()
    doc["sinks"][0]["table"] = "main.raw"  # both
    del doc["sinks"][3]["path"]  # neither
    issues = validate_spec(doc)
    assert paths(issues) == ["sinks[0]", "sinks[3]"]
    assert {i.message for i in issues} == {"give exactly one of 'path' or 'table'"}


def test_duplicate_sink_names_and_targets() -> None:
    doc = stream_doc()
    doc["sinks"][3]["name"] = "raw"
    doc["sinks"][3]["path"] = "/lake/raw/"  # same table as sinks[0], trailing slash ignored
    doc["sinks"][2]["table"] = "main.orders"  # same catalog table as sinks[1]
    del doc["sinks"][2]["path"]
    issues = validate_spec(doc)
    assert issues == [
        SpecIssue("sinks[2].table", "target 'table:main.orders' is also written by sinks[1]"),
        SpecIssue("sinks[3].name", "duplicate sink name 'raw' (also sinks[0])"),
        SpecIssue("sinks[3].path", "target '/lake/raw/' is also written by sinks[0]"),
    ]


def test_unknown_from() -> None:
    doc = stream_doc()
    doc["sinks"][2]["from"] = "ordrs"
    assert validate_spec(doc) == [SpecIssue("sinks[2].from", "unknown sink 'ordrs'")]


def test_from_itself() -> None:
    doc = stream_doc()
    doc["sinks"][0]["from"] = "raw"
    issues = validate_spec(doc)
    assert issues == [
        SpecIssue("sinks[0].from", "a sink cannot read from itself"),
        SpecIssue("sinks[0].from", "'from' forms a cycle: raw -> raw"),
    ]


def test_from_cycle_reported_once() -> None:
    doc = stream_doc()
    doc["sinks"][0]["from"] = "recent"
    doc["sinks"][3]["from"] = "raw"
    assert validate_spec(doc) == [SpecIssue("sinks[0].from", "'from' forms a cycle: raw -> recent -> raw")]


def test_chain_into_cycle_reports_the_cycle_only() -> None:
    doc = stream_doc()
    # daily -> orders -> recent -> orders
    doc["sinks"][1]["from"] = "recent"
    doc["sinks"][3]["from"] = "orders"
    assert validate_spec(doc) == [SpecIssue("sinks[1].from", "'from' forms a cycle: orders -> recent -> orders")]


def test_aggregate_rules_all_reported_at_once() -> None:
    doc = stream_doc()
    agg = doc["sinks"][2]
    agg["mode"] = "append"
    del agg["from"]
    del agg["aggregate"]["window"]
    del agg["aggregate"]["group_by"]
    issues = validate_spec(doc)
    assert paths(issues) == ["sinks[2].mode", "sinks[2].from", "sinks[2].aggregate"]
    assert issue_at(issues, "sinks[2].aggregate").message == "needs a 'window', 'group_by' columns, or both"


def test_aggregate_must_not_set_merge_keys() -> None:
    doc = stream_doc()
    doc["sinks"][2]["merge"] = {"keys": ["user"]}
    assert paths(validate_spec(doc)) == ["sinks[2].merge.keys"]


def test_aggregate_with_group_by_only_or_window_only_is_valid() -> None:
    doc = stream_doc()
    del doc["sinks"][2]["aggregate"]["window"]
    assert validate_spec(doc) == []
    assert parse_spec(doc).sink("daily").merge_keys == ("user",)
    doc = stream_doc()
    del doc["sinks"][2]["aggregate"]["group_by"]
    assert validate_spec(doc) == []
    assert parse_spec(doc).sink("daily").merge_keys == ("window_start", "window_end")


def test_batch_mode_without_slice() -> None:
    doc = batch_doc()
    del doc["run"]["slice"]
    issues = validate_spec(doc)
    assert paths(issues) == ["run.slice"]
    assert issues[0].message.startswith("required for mode 'batch'")


def test_slice_in_stream_mode() -> None:
    doc = stream_doc()
    doc["run"]["slice"] = {"key": "2024-01-01", "where": "d = '2024-01-01'"}
    assert validate_spec(doc) == [SpecIssue("run.slice", "only for mode 'batch'")]


def test_rate_source_cannot_be_batch_nor_have_a_path() -> None:
    doc = batch_doc()
    doc["source"] = {"format": "rate", "path": "/x"}
    issues = validate_spec(doc)
    assert paths(issues) == ["source", "source.format"]


@pytest.mark.parametrize(
    ("source", "mode", "expected"),
    [
        ({"format": "table"}, "batch", ["source.table"]),
        ({"format": "parquet"}, "batch", ["source.path"]),
        ({"format": "csv", "path": "/in"}, "stream", ["source.schema"]),
        ({"format": "json", "path": "/in", "schema": "a INT"}, "stream", []),
        ({"format": "json", "path": "/in"}, "batch", []),
        ({"format": "delta", "path": "/in", "table": "t"}, "batch", ["source"]),
    ],
)
def test_source_rules(source: dict[str, Any], mode: str, expected: list[str]) -> None:
    doc = batch_doc() if mode == "batch" else stream_doc()
    doc["source"] = source
    if mode == "stream":
        doc["params"] = {"min_amount": 1}
    assert paths(validate_spec(doc)) == expected


def test_params_used_but_not_defined() -> None:
    doc = stream_doc()
    del doc["params"]
    issues = validate_spec(doc)
    assert paths(issues) == ["source.where", "sinks[1].where"]
    assert issues[0].message == ("parameter ':region' is not defined (add it to 'params' or pass --param region=...)")
    assert ":min_amount" in issues[1].message


def test_params_can_come_from_overrides_only() -> None:
    doc = stream_doc()
    del doc["params"]
    assert validate_spec(doc, {"region": "us", "min_amount": 5}) == []
    spec = parse_spec(doc, {"region": "us", "min_amount": 5})
    assert spec.params == {"region": "us", "min_amount": 5}


def test_param_markers_in_strings_or_casts_are_not_params() -> None:
    doc = stream_doc()
    doc["sinks"][1]["where"] = "note <> ':not_a_param' AND amount::int > 0 -- :nor_this"
    assert validate_spec(doc) == []


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("sum(amount", "unbalanced '(' or '[': a closing bracket is missing"),
        ("sum(amount))", "unbalanced ')' at offset 11"),
        ("arr[0)", "unbalanced ')' at offset 5"),
        ("op = 'D", "unterminated string literal starting at offset 5"),
        ('op = "D', "unterminated string literal starting at offset 5"),
        ("`weird col = 1", "unterminated quoted identifier starting at offset 0"),
        ("a = 1 /* comment", "unterminated comment starting at offset 6"),
        ("a = 1; DROP TABLE t", "';' is not allowed in an expression"),
        ("   ", "expression is empty"),
    ],
)
def test_lexically_broken_sql_is_reported_at_its_path(expr: str, fragment: str) -> None:
    doc = stream_doc()
    doc["sinks"][1]["dedupe"]["order_by"] = expr
    issues = validate_spec(doc)
    assert paths(issues) == ["sinks[1].dedupe.order_by"]
    assert issues[0].message == f"SQL expression does not parse: {fragment}"


def test_every_sql_field_is_checked() -> None:
    doc = stream_doc()
    bad = "x = ("
    doc["source"]["where"] = bad
    doc["sinks"][0]["columns"] = {"c": bad}
    doc["sinks"][1]["where"] = bad
    doc["sinks"][1]["select"] = ["id", bad]
    doc["sinks"][1]["dedupe"]["order_by"] = bad
    doc["sinks"][1]["merge"]["delete_when"] = bad
    doc["sinks"][2]["aggregate"]["measures"]["n"] = bad
    doc["sinks"][3]["replace_where"] = bad
    issues = validate_spec(doc)
    assert paths(issues) == [
        "source.where",
        "sinks[0].columns.c",
        "sinks[1].where",
        "sinks[1].select[1]",
        "sinks[1].dedupe.order_by",
        "sinks[1].merge.delete_when",
        "sinks[2].aggregate.measures.n",
        "sinks[3].replace_where",
    ]


def test_slice_where_is_checked() -> None:
    doc = batch_doc()
    doc["run"]["slice"]["where"] = "event_date = :day)"
    issues = validate_spec(doc)
    assert paths(issues) == ["run.slice.where", "run.slice.where"]
    assert issues[0].message.startswith("SQL expression does not parse: unbalanced ')'")
    assert issues[1].message.startswith("parameter ':day' is not defined")


def test_every_semantic_error_is_reported_at_once() -> None:
    doc = stream_doc()
    del doc["params"]["region"]  # source.where uses :region
    del doc["sinks"][1]["merge"]  # merge without keys
    doc["sinks"][2]["from"] = "nope"  # unknown upstream
    doc["sinks"][3]["name"] = "raw"  # duplicate name
    doc["sinks"][3]["replace_where"] = "ts > (1"  # broken SQL
    doc["run"]["slice"] = {"key": "k", "where": "true"}  # slice in a stream
    with pytest.raises(SpecError) as info:
        parse_spec(doc)
    err = info.value
    assert isinstance(err, FanOutError)
    assert sorted(paths(err.issues)) == sorted(
        [
            "run.slice",
            "sinks[1].merge.keys",
            "sinks[3].name",
            "sinks[2].from",
            "source.where",
            "sinks[3].replace_where",
        ]
    )
    assert str(err).startswith("invalid fan-out spec (6 error(s)):\n  - ")
    assert "  - sinks[2].from: unknown sink 'nope'" in str(err)


# ----------------------------------------------------------------------------- helpers


def test_json_path() -> None:
    assert json_path([]) == ""
    assert json_path(["sinks", 2, "merge", "keys"]) == "sinks[2].merge.keys"
    assert json_path(["run", "slice", "key"]) == "run.slice.key"
    assert json_path(["sinks", 0, "select", 1]) == "sinks[0].select[1]"


def test_sql_fields_lists_every_expression_with_its_path() -> None:
    doc = stream_doc()
    assert list(sql_fields(doc)) == [
        ("source.where", "region = :region"),
        ("sinks[1].where", "amount >= :min_amount"),
        ("sinks[1].columns.amount_cents", "CAST(amount * 100 AS BIGINT)"),
        ("sinks[1].select[0]", "id"),
        ("sinks[1].select[1]", "amount_cents"),
        ("sinks[1].select[2]", "ts"),
        ("sinks[1].select[3]", "user"),
        ("sinks[1].select[4]", "op"),
        ("sinks[1].dedupe.order_by", "ts DESC"),
        ("sinks[1].merge.delete_when", "op = 'D'"),
        ("sinks[2].aggregate.measures.total", "sum(amount_cents)"),
        ("sinks[2].aggregate.measures.n", "count(*)"),
        ("sinks[3].replace_where", "ts >= current_date() - INTERVAL 1 DAY"),
    ]
    assert list(sql_fields(batch_doc())) == [("run.slice.where", "event_date = CAST(:ds AS DATE)")]


def test_resolve_params() -> None:
    doc = stream_doc()
    assert resolve_params(doc) == {"min_amount": 10, "region": "eu"}
    assert resolve_params(doc, {"region": "us", "extra": True}) == {"min_amount": 10, "region": "us", "extra": True}
    assert resolve_params({}, None) == {}
    assert resolve_params({"params": "not a dict"}, {"a": 1}) == {"a": 1}


def test_spec_issue_str() -> None:
    assert str(SpecIssue("sinks[0].merge.keys", "required")) == "sinks[0].merge.keys: required"
    assert str(SpecIssue("", "bad")) == "<spec>: bad"


def test_load_spec_file(tmp_path: Path) -> None:
    good = tmp_path / "spec.json"
    good.write_text(json.dumps(batch_doc()), encoding="utf-8")
    assert load_spec_file(good) == batch_doc()
    assert parse_spec(load_spec_file(str(good))).slice_key == "2024-01-01"

    bad = tmp_path / "broken.json"
    bad.write_text('{"version": 1,', encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_spec_file(bad)
    assert len(info.value.issues) == 1
    assert info.value.issues[0].path == ""
    assert info.value.issues[0].message.startswith(f"{bad}: not valid JSON:")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"app_id": "café"}'.encode("latin-1"), "not UTF-8 text: 'utf-8' codec can't decode byte 0xe9"),
        # 5000 levels parse on Python 3.13 (its decoder's limit is higher): 100000 fail everywhere
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON: maximum recursion depth exceeded"),
        (b'{"version": ' + b"9" * 5000 + b"}", "not valid JSON: Exceeds the limit (4300"),  # 3.10: "(4300) for"
    ],
    ids=["latin-1", "nested-too-deep", "integer-too-long"],
)
def test_load_spec_file_reports_undecodable_content_as_spec_error(
    tmp_path: Path, content: bytes, fragment: str
) -> None:
    # These used to escape as UnicodeDecodeError / RecursionError / ValueError: a traceback and exit 1.
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    with pytest.raises(SpecError) as info:
        load_spec_file(bad)
    assert [i.path for i in info.value.issues] == [""]
    assert info.value.issues[0].message.startswith(f"{bad}: ")
    assert fragment in info.value.issues[0].message


def test_view_rules() -> None:
    doc = stream_doc()
    silver = doc["sinks"][1]
    assert silver["mode"] == "merge"
    doc["sinks"].append({"name": "a_route", "mode": "merge", "path": "/lake/a", "from": silver["name"]})
    assert validate_spec(doc) == []  # a keyed view needs no merge block: its keys are its upstream's
    doc["sinks"][-1].update(mode="overwrite", replace_where="true", dedupe={"keys": ["id"]})
    assert sorted(paths(validate_spec(doc))) == [f"sinks[{len(doc['sinks']) - 1}].{p}" for p in ("dedupe", "mode")]
    doc["sinks"][-1] = {
        "name": "a_route",
        "mode": "merge",
        "path": "/lake/a",
        "from": silver["name"],
        "merge": {"keys": ["other"], "scd_type": 2},
    }
    issues = validate_spec(doc)
    last = len(doc["sinks"]) - 1
    assert sorted(paths(issues)) == [f"sinks[{last}].merge.keys", f"sinks[{last}].merge.scd_type"]
    assert any("has its keys ['id']" in i.message for i in issues)


def test_a_huge_bad_value_is_quoted_by_its_ends() -> None:
    doc = {"version": 1, "app_id": [[[[["x" * 10_000]]]]]}
    with pytest.raises(SpecError) as info:
        parse_spec(doc)
    (issue,) = [i for i in info.value.issues if i.path == "app_id"]
    assert len(issue.message) < 300
    assert issue.message.startswith("[[[[['xxx") and "is not of type 'string' (" in issue.message
