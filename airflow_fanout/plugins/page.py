"""What the fan-out page shows: every fan-out task of the DAGs a user may read, its spec as a
graph, and each sink's current state (read from the Delta logs without a JVM) next to what the
task's last run wrote (its XCom). Data and HTML; the FastAPI app is ``ui``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html import escape
from typing import Any

from airflow_fanout.graph import SinkFacts, spec_graph, to_svg
from airflow_fanout.spec.model import FanOutSpec
from airflow_fanout.spec.naming import sink_app_id
from airflow_fanout.spec.validate import parse_spec
from airflow_fanout.status import sink_status

#: the operators whose tasks the page shows
FANOUT_OPERATORS = frozenset({"FanOutSubmitOperator", "FanOutBackfillOperator", "FanOutAvailableNowOperator"})


@dataclass
class SinkRow:
    name: str
    mode: str
    target: str
    table_version: int | None
    txn_app_id: str
    txn_version: int | None
    last_commit: str | None
    last_run: dict[str, Any] = field(default_factory=dict)


@dataclass
class FanOutTask:
    dag_id: str
    task_id: str
    operator: str
    spec: FanOutSpec | None
    problem: str | None = None
    last_run: dict[str, Any] | None = None
    sinks: list[SinkRow] = field(default_factory=list)

    @property
    def svg(self) -> str:
        if self.spec is None:
            return ""
        facts = {
            s.name: SinkFacts(s.table_version, s.txn_version, _rows(s.last_run) if s.last_run else None)
            for s in self.sinks
        }
        return to_svg(spec_graph(self.spec, facts))


def _rows(totals: dict[str, Any]) -> str:
    return f"+{totals.get('rows_inserted', 0)} ~{totals.get('rows_updated', 0)} -{totals.get('rows_deleted', 0)}"


def describe(dag_id: str, task_id: str, operator: str, spec_doc: Any, last_run: dict[str, Any] | None) -> FanOutTask:
    """A fan-out task with its sinks' state: the spec as the DAG serialized it (or as the last run
    rendered it), each sink's table version and txn version now, and the last run's totals."""
    if isinstance(spec_doc, str):
        try:
            spec_doc = json.loads(spec_doc)
        except ValueError:
            return FanOutTask(dag_id, task_id, operator, None, f"spec {spec_doc!r} is not rendered yet (no run)")
    try:
        spec = parse_spec(spec_doc)
    except Exception as exc:
        return FanOutTask(dag_id, task_id, operator, None, f"spec cannot be shown before a run renders it: {exc}")
    task = FanOutTask(dag_id, task_id, operator, spec, last_run=last_run)
    totals = (last_run or {}).get("sinks", {}) if isinstance(last_run, dict) else {}
    for sink in spec.sinks:
        ran = totals.get(sink.name, {})
        app_id = str(ran.get("txn_app_id") or sink_app_id(spec, sink))
        try:
            status = sink_status(sink.name, sink.ref.target, sink.path, app_id)
            version, txn, commit = status.table_version, status.txn_version, status.last_commit
        except Exception:  # a path that is not a Delta table (yet): shown as unknown
            version = txn = commit = None
        mode: str = "aggregate" if sink.aggregate is not None else sink.mode
        if spec.view_kind(sink) is not None:
            mode += f" view of {sink.upstream}"
        task.sinks.append(SinkRow(sink.name, mode, sink.ref.target, version, app_id, txn, commit, ran))
    return task


def _cell(value: object) -> str:
    return "-" if value is None or value == "" else escape(str(value))


def render(tasks: list[FanOutTask], focus: str | None = None) -> str:
    """The whole page (standalone HTML: no script, no external asset)."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Fan-out</title><style>",
        "body{font-family:sans-serif;margin:16px;color:#222} h1{font-size:20px} h2{font-size:16px;margin-top:28px}",
        "table{border-collapse:collapse;margin:8px 0;font-size:13px} td,th{border:1px solid #ccc;padding:3px 8px}",
        "th{background:#f3f3f3;text-align:left} .graph{border:1px solid #eee;padding:6px}"
        " .graph svg{max-width:100%;height:auto}",
        ".muted{color:#777} .problem{color:#a33}",
        "</style></head><body>",
        f"<h1>Fan-out tasks{(' of ' + escape(focus)) if focus else ''}</h1>",
    ]
    if not tasks:
        parts.append("<p class='muted' id='empty'>No fan-out task in the DAGs you may read.</p>")
    for task in tasks:
        anchor = escape(f"{task.dag_id}.{task.task_id}")
        dag, name = escape(task.dag_id), escape(task.task_id)
        parts.append(f"<section class='task' data-dag='{dag}' data-task='{name}' id='{anchor}'>")
        parts.append(f"<h2>{dag} / {name} <span class='muted'>({escape(task.operator)})</span></h2>")
        if task.problem:
            parts.append(f"<p class='problem'>{escape(task.problem)}</p></section>")
            continue
        run = task.last_run
        if isinstance(run, dict):
            batches = run.get("batches")
            count = len(batches) if isinstance(batches, list) else batches  # a full report, or its summary
            parts.append(
                f"<p>last run: <b>{_cell(run.get('status'))}</b>, {_cell(count)} batch(es), "
                f"finished {_cell(run.get('finished_at'))}, report {_cell(run.get('report'))}</p>"
            )
        else:
            parts.append("<p class='muted'>no run yet</p>")
        parts.append(f"<div class='graph'>{task.svg}</div>")
        parts.append(
            "<table><tr><th>sink</th><th>writes</th><th>table</th><th>version</th><th>txn app id</th>"
            "<th>txn version</th><th>last run: inserted / updated / deleted</th><th>last commit</th></tr>"
        )
        for sink in task.sinks:
            ran = sink.last_run
            rows = (
                f"{ran.get('rows_inserted', 0)} / {ran.get('rows_updated', 0)} / {ran.get('rows_deleted', 0)}"
                if ran
                else "-"
            )
            parts.append(
                f"<tr data-sink='{escape(sink.name)}' data-version='{_cell(sink.table_version)}' "
                f"data-txn='{_cell(sink.txn_version)}'><td>{escape(sink.name)}</td><td>{escape(sink.mode)}</td>"
                f"<td>{escape(sink.target)}</td><td>{_cell(sink.table_version)}</td><td>{escape(sink.txn_app_id)}</td>"
                f"<td>{_cell(sink.txn_version)}</td><td>{rows}</td><td>{_cell(sink.last_commit)}</td></tr>"
            )
        parts.append("</table></section>")
    parts.append("</body></html>")
    return "\n".join(parts)
