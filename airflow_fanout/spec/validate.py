"""Validation: the JSON Schema first, then the rules a schema cannot say. All errors at once,
each with the JSON path of the field it is about (``sinks[2].merge.keys``)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema

from airflow_fanout.exceptions import SpecError, SpecIssue
from airflow_fanout.spec.model import BUILTIN_PARAMS, FanOutSpec, Scalar
from airflow_fanout.spec.params import lexical_problem, param_names


@cache
def spec_schema() -> dict[str, Any]:
    """The JSON Schema of spec version 1, as shipped in the package."""
    text = files("airflow_fanout.spec").joinpath("schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def json_path(parts: Iterable[str | int]) -> str:
    """``['sinks', 2, 'merge', 'keys']`` -> ``sinks[2].merge.keys``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _is_strict_integer(checker: object, instance: object) -> bool:
    """A JSON integer is an ``int`` here: JSON Schema's own rule also accepts ``3.0``, which then
    reaches Spark as a float (``txnVersion`` "3.0") and fails only at write time."""
    return isinstance(instance, int) and not isinstance(instance, bool)


#: Draft 2020-12, with integers that are integers
_SpecValidator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]  # (types-jsonschema)
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_strict_integer),
)


def _schema_issues(doc: Mapping[str, Any]) -> list[SpecIssue]:
    validator = _SpecValidator(spec_schema())
    issues = []
    for error in validator.iter_errors(doc):
        if error.validator == "oneOf" and error.context:
            if all(e.validator == "required" for e in error.context):
                names = " or ".join(repr(e.validator_value[0]) for e in error.context if e.validator_value)
                issues.append(SpecIssue(json_path(list(error.absolute_path)), f"needs {names}"))
                continue
            # "x is not valid under any of the given schemas" says nothing: name what fits best
            # (the alternative of the same JSON type as the value, e.g. the list or the object).
            error = max(error.context, key=lambda e: (len(e.absolute_path), e.validator not in ("type", "const")))
        path = list(error.absolute_path)
        issues.append(SpecIssue(json_path(path), _shortened(_schema_message(error))))
    return sorted(issues, key=lambda i: (i.path, i.message))


def _shortened(message: str, limit: int = 240) -> str:
    """A message quoting a huge value keeps its start and its end (what the value should be)."""
    if len(message) <= limit:
        return message
    return f"{message[: limit // 2]} ... {message[-(limit // 2) :]} ({len(message)} characters)"


def _schema_message(error: jsonschema.ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties":
        instance = error.instance if isinstance(error.instance, dict) else {}
        extra = sorted(set(instance) - set(schema.get("properties", {})))
        return f"unknown key(s) {', '.join(repr(k) for k in extra)}"
    if error.validator == "required":
        return error.message.replace("is a required property", "is required")
    if error.validator == "enum":
        allowed = error.validator_value if isinstance(error.validator_value, list) else []
        return f"{error.instance!r} is not one of {', '.join(repr(v) for v in allowed)}"
    if error.validator == "pattern":
        return f"{error.instance!r} does not match the pattern {error.validator_value!r}"
    return error.message


def sql_fields(doc: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Every SQL expression in a (schema-valid) spec, with its JSON path."""
    source = doc.get("source", {})
    if "where" in source:
        yield "source.where", source["where"]
    sl = doc.get("run", {}).get("slice")
    if sl and "where" in sl:
        yield "run.slice.where", sl["where"]
    for i, sink in enumerate(doc.get("sinks", [])):
        base = f"sinks[{i}]"
        for key in ("where", "replace_where"):
            if key in sink:
                yield f"{base}.{key}", sink[key]
        for name, expr in sink.get("columns", {}).items():
            yield f"{base}.columns.{name}", expr
        for j, expr in enumerate(sink.get("select", [])):
            yield f"{base}.select[{j}]", expr
        for j, expectation in enumerate(sink.get("expect", [])):
            yield f"{base}.expect[{j}].check", expectation["check"]
        if "order_by" in sink.get("dedupe", {}):
            yield f"{base}.dedupe.order_by", sink["dedupe"]["order_by"]
        if "delete_when" in sink.get("merge", {}):
            yield f"{base}.merge.delete_when", sink["merge"]["delete_when"]
        for name, expr in sink.get("aggregate", {}).get("measures", {}).items():
            yield f"{base}.aggregate.measures.{name}", expr


def _semantic_issues(doc: Mapping[str, Any], params: Mapping[str, Scalar]) -> list[SpecIssue]:
    issues: list[SpecIssue] = []

    def add(path: str, msg: str) -> None:
        issues.append(SpecIssue(path, msg))

    source, run, sinks = doc["source"], doc["run"], doc["sinks"]

    fmt = source["format"]
    if fmt == "table" and "table" not in source:
        add("source.table", "required for format 'table'")
    if fmt in ("delta", "json", "parquet", "csv") and "path" not in source and "table" not in source:
        add("source.path", f"required for format {fmt!r}")
    if fmt in ("json", "csv") and run["mode"] == "stream" and "schema" not in source:
        add("source.schema", f"required for a {fmt} stream (Spark cannot infer a streaming file schema)")
    if fmt == "rate" and ("path" in source or "table" in source):
        add("source", "a 'rate' source takes no path or table")
    if "path" in source and "table" in source:
        add("source", "give 'path' or 'table', not both")
    corrupt = source.get("corrupt_records", "permissive")
    if corrupt != "permissive" and fmt not in ("json", "csv"):
        add("source.corrupt_records", f"only for json or csv sources, not {fmt!r}")
    if corrupt == "dead_letter" and "dead_letter" not in doc:
        add("source.corrupt_records", "'dead_letter' needs a top-level 'dead_letter' table")
    if corrupt == "dead_letter" and "schema" not in source:
        add("source.schema", "required to capture corrupt records (the raw text needs a known schema)")

    if run["mode"] == "stream":
        if "slice" in run:
            add("run.slice", "only for mode 'batch'")
    else:
        if "trigger" in run:
            add("run.trigger", "only for mode 'stream'")
        if "slice" not in run:
            add("run.slice", "required for mode 'batch' (the slice to read and replace)")
        if fmt == "rate":
            add("source.format", "a 'rate' source can only be streamed (mode 'stream')")

    names: dict[str, int] = {}
    targets: dict[str, int] = {}
    for i, sink in enumerate(sinks):
        base = f"sinks[{i}]"
        name = sink["name"]
        if name in names:
            add(f"{base}.name", f"duplicate sink name {name!r} (also sinks[{names[name]}])")
        names.setdefault(name, i)
        has_path, has_table = "path" in sink, "table" in sink
        if has_path == has_table:
            add(base, "give exactly one of 'path' or 'table'")
        target = sink.get("path") or f"table:{sink.get('table')}"
        if has_path or has_table:
            norm = target.rstrip("/")
            if norm in targets:
                add(
                    f"{base}.{'path' if has_path else 'table'}",
                    f"target {target!r} is also written by sinks[{targets[norm]}]",
                )
            targets.setdefault(norm, i)
        upstream = next((s for s in sinks if s["name"] == sink.get("from") and s is not sink), None)
        is_view = upstream is not None and upstream.get("mode") == "merge"
        issues.extend(_sink_mode_issues(base, sink, run, is_view=is_view))

    for name in BUILTIN_PARAMS:
        if name in doc.get("params", {}):
            add(f"params.{name}", f"{name!r} is a built-in parameter (set per batch); choose another name")
    dead_letter = doc.get("dead_letter")
    if dead_letter is not None and ("path" in dead_letter) == ("table" in dead_letter):
        add("dead_letter", "give exactly one of 'path' or 'table'")
    for i, sink in enumerate(sinks):
        if sink.get("catch_all"):
            if "where" in sink:
                add(f"sinks[{i}].where", "a catch_all sink takes the rows no other route selects: no 'where'")
            routes = [s for s in sinks if s.get("from") == sink.get("from") and "where" in s and s is not sink]
            if not routes:
                add(f"sinks[{i}].catch_all", "needs at least one other sink with a 'where' on the same input")
    for i, sink in enumerate(sinks):
        seen_checks: set[str] = set()
        for j, expectation in enumerate(sink.get("expect", [])):
            if expectation["name"] in seen_checks:
                add(f"sinks[{i}].expect[{j}].name", f"duplicate expectation name {expectation['name']!r}")
            seen_checks.add(expectation["name"])
            if expectation.get("on_fail", "dead_letter") == "dead_letter" and dead_letter is None:
                add(f"sinks[{i}].expect[{j}].on_fail", "'dead_letter' needs a top-level 'dead_letter' table")

    for i, sink in enumerate(sinks):
        upstream = sink.get("from")
        if upstream is None:
            continue
        if upstream not in names:
            add(f"sinks[{i}].from", f"unknown sink {upstream!r}")
        elif upstream == sink["name"]:
            add(f"sinks[{i}].from", "a sink cannot read from itself")
    cycles = _cycle_issues(sinks, names)
    issues.extend(cycles or _view_issues(sinks))  # views are judged once the 'from' graph is sound

    for path, expr in sql_fields(doc):
        problem = lexical_problem(expr)
        if problem:
            add(path, f"SQL expression does not parse: {problem}")
        for name in param_names(expr):
            if name not in params and name not in BUILTIN_PARAMS:
                add(path, f"parameter ':{name}' is not defined (add it to 'params' or pass --param {name}=...)")
    return issues


def _sink_mode_issues(
    base: str, sink: Mapping[str, Any], run: Mapping[str, Any], *, is_view: bool = False
) -> list[SpecIssue]:
    issues: list[SpecIssue] = []
    mode = sink["mode"]
    merge, aggregate = sink.get("merge"), sink.get("aggregate")
    if mode == "merge":
        if aggregate is None and not is_view and not (merge and merge.get("keys")):
            issues.append(SpecIssue(f"{base}.merge.keys", "required for mode 'merge'"))
    elif merge is not None:
        issues.append(SpecIssue(f"{base}.merge", f"only for mode 'merge', not {mode!r}"))
    if merge and merge.get("when_matched") == "ignore":
        acting = [k for k in ("sequence_by", "delete_when") if k in merge]
        if acting:
            issues.append(
                SpecIssue(
                    f"{base}.merge.when_matched",
                    f"'ignore' never touches an existing row, so {' and '.join(acting)} would never apply",
                )
            )
    if not is_view:  # a view's merge block takes no CDC settings at all (_view_issues)
        issues.extend(_cdc_issues(base, merge or {}))
    if mode == "overwrite" and "replace_where" not in sink and run["mode"] != "batch":
        issues.append(
            SpecIssue(f"{base}.replace_where", "required for mode 'overwrite' in a stream (which slice to replace)")
        )
    if mode != "overwrite" and "replace_where" in sink:
        issues.append(SpecIssue(f"{base}.replace_where", f"only for mode 'overwrite', not {mode!r}"))
    if aggregate is not None:
        if mode != "merge":
            issues.append(
                SpecIssue(f"{base}.mode", "an aggregate sink must use mode 'merge' (its groups are updated in place)")
            )
        if "from" not in sink:
            issues.append(
                SpecIssue(
                    f"{base}.from",
                    "an aggregate sink must read 'from' an upstream sink (it is kept equal to the "
                    "aggregate over that table, whatever the batches)",
                )
            )
        if merge and merge.get("keys"):
            issues.append(
                SpecIssue(
                    f"{base}.merge.keys", "an aggregate's keys are its window and group_by columns; do not set them"
                )
            )
        if merge and "when_matched" in merge:
            issues.append(
                SpecIssue(
                    f"{base}.merge.when_matched",
                    "an aggregate updates its recomputed groups; when_matched is for keyed merge sinks",
                )
            )
        if not aggregate.get("window") and not aggregate.get("group_by"):
            issues.append(SpecIssue(f"{base}.aggregate", "needs a 'window', 'group_by' columns, or both"))
        if "gap" in aggregate.get("window", {}) and not aggregate.get("group_by"):
            issues.append(
                SpecIssue(
                    f"{base}.aggregate.group_by", "a session window needs group_by (sessions are per key, e.g. user_id)"
                )
            )
    return issues


def _cdc_issues(base: str, merge: Mapping[str, Any]) -> list[SpecIssue]:
    """``sequence_by``, tombstones and SCD type 2 go together."""
    issues: list[SpecIssue] = []
    sequenced, deletes = "sequence_by" in merge, "delete_when" in merge
    if merge.get("scd_type") == 2:
        if not sequenced:
            issues.append(
                SpecIssue(f"{base}.merge.scd_type", "SCD type 2 needs sequence_by (it orders the versions of a key)")
            )
        if merge.get("when_matched") == "ignore":
            issues.append(SpecIssue(f"{base}.merge.when_matched", "'ignore' cannot keep a history (scd_type 2)"))
    tombstones = merge.get("tombstones")
    if isinstance(tombstones, dict):
        if not (sequenced and deletes):
            issues.append(
                SpecIssue(
                    f"{base}.merge.tombstones",
                    "tombstones need sequence_by and delete_when (a tombstone is a deleted key and its sequence)",
                )
            )
        if "path" in tombstones and "table" in tombstones:
            issues.append(SpecIssue(f"{base}.merge.tombstones", "give 'path' or 'table', not both"))
    return issues


def _upstream_keys(sink: Mapping[str, Any]) -> list[str] | None:
    """The columns that identify a row of a (raw) upstream sink's table, None when it has none."""
    aggregate = sink.get("aggregate")
    if aggregate is not None:
        window = ["window_start", "window_end"] if aggregate.get("window") else []
        return window + list(aggregate.get("group_by", []))
    merge = sink.get("merge") or {}
    if sink.get("mode") != "merge" or not merge.get("keys"):
        return None
    return list(merge["keys"]) + (["__start_at"] if merge.get("scd_type") == 2 else [])


def _view_issues(sinks: list[Mapping[str, Any]]) -> list[SpecIssue]:
    """A sink reading ``from`` a merge sink (or any aggregate) is a view of that table: what it
    may and may not set (see docs/spec.md, "Views")."""
    by_name = {s["name"]: s for s in sinks}
    issues: list[SpecIssue] = []
    for i, sink in enumerate(sinks):
        base, upstream = f"sinks[{i}]", by_name.get(sink.get("from", ""))
        if upstream is None or upstream is sink:
            continue
        aggregate = sink.get("aggregate") is not None
        if not aggregate and upstream.get("mode") != "merge":
            continue  # reads the upstream's rows of each batch: not a view
        name = upstream["name"]
        if "dedupe" in sink:
            issues.append(
                SpecIssue(
                    f"{base}.dedupe",
                    f"a view of {name!r} holds the rows of its table (one per key): dedupe {name!r} instead",
                )
            )
        if aggregate:
            continue
        if sink["mode"] == "overwrite":
            issues.append(
                SpecIssue(
                    f"{base}.mode",
                    f"a sink reading 'from' merge sink {name!r} is a view of its table: use 'merge' (kept equal "
                    f"to its query over {name!r}) or 'append' (a log of the changes of {name!r})",
                )
            )
        merge = sink.get("merge") or {}
        keys = _upstream_keys(upstream)
        if "keys" in merge and keys is not None and list(merge["keys"]) != keys:
            issues.append(
                SpecIssue(
                    f"{base}.merge.keys",
                    f"a view of {name!r} has its keys {keys}; leave merge.keys out or set exactly those",
                )
            )
        for key in ("sequence_by", "delete_when", "when_matched", "tombstones", "scd_type"):
            if key in merge:
                issues.append(
                    SpecIssue(
                        f"{base}.merge.{key}",
                        f"a view of {name!r} follows its changes (updates, deletes, order): {key} is for sinks "
                        "reading the source",
                    )
                )
    return issues


def _cycle_issues(sinks: list[Mapping[str, Any]], names: Mapping[str, int]) -> list[SpecIssue]:
    upstream = {s["name"]: s.get("from") for s in sinks}
    reported: set[str] = set()
    issues: list[SpecIssue] = []
    for start in upstream:
        seen: list[str] = []
        node: str | None = start
        while node is not None and node in upstream and node not in seen:
            seen.append(node)
            node = upstream[node]
        if node is not None and node in seen and node not in reported:
            cycle = seen[seen.index(node) :]
            reported.update(cycle)
            issues.append(
                SpecIssue(f"sinks[{names[node]}].from", f"'from' forms a cycle: {' -> '.join([*cycle, node])}")
            )
    return issues


def resolve_params(doc: Mapping[str, Any], overrides: Mapping[str, Scalar] | None = None) -> dict[str, Scalar]:
    """The spec's ``params`` defaults updated with ``overrides`` (from --param or the operator)."""
    params: dict[str, Scalar] = dict(doc.get("params") or {}) if isinstance(doc.get("params"), dict) else {}
    params.update(overrides or {})
    return params


def validate_spec(doc: Any, params: Mapping[str, Scalar] | None = None) -> list[SpecIssue]:
    """Every problem in ``doc`` (schema, then semantics), or [] when it is valid."""
    if not isinstance(doc, dict):
        return [SpecIssue("", f"a spec must be a JSON object, not {type(doc).__name__}")]
    issues = _schema_issues(doc)
    if issues:
        return issues
    issues = _semantic_issues(doc, resolve_params(doc, params))
    issues.extend(_slice_key_issues(doc, resolve_params(doc, params)))
    return issues


_SLICE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,63}")


def _slice_key_issues(doc: Mapping[str, Any], params: Mapping[str, Scalar]) -> list[SpecIssue]:
    key = doc["run"].get("slice", {}).get("key")
    if not (isinstance(key, str) and key.startswith(":")):
        return []
    if key[1:] not in params:
        return [SpecIssue("run.slice.key", f"parameter '{key}' is not defined")]
    value = str(params[key[1:]])
    if not _SLICE_KEY.fullmatch(value):
        # The resolved key becomes part of the Delta txn app id: same rule as a literal key.
        return [SpecIssue("run.slice.key", f"parameter '{key}' = {value!r} is not a valid slice key")]
    return []


def parse_spec(doc: Any, params: Mapping[str, Scalar] | None = None) -> FanOutSpec:
    """Validate ``doc`` and build the typed spec, with params resolved. Raises ``SpecError``."""
    issues = validate_spec(doc, params)
    if issues:
        raise SpecError(issues)
    resolved = resolve_params(doc, params)
    doc = dict(doc)
    doc["params"] = resolved
    run = dict(doc["run"])
    if "slice" in run and run["slice"]["key"].startswith(":"):
        run["slice"] = {**run["slice"], "key": str(resolved[run["slice"]["key"][1:]])}
        doc["run"] = run
    return FanOutSpec.from_dict(doc)


def load_spec_file(path: str | Path) -> Any:
    """Read a spec file (JSON). Raises ``SpecError`` naming the file on unreadable JSON."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError([SpecIssue("", f"{path}: not UTF-8 text: {exc}")]) from exc
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        # ValueError: JSONDecodeError, or an integer longer than Python converts (sys.get_int_max_str_digits);
        # RecursionError: arrays or objects nested deeper than the decoder's recursion limit.
        raise SpecError([SpecIssue("", f"{path}: not valid JSON: {exc}")]) from exc
