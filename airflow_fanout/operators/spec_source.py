"""Where a task's spec comes from, so it can be checked when the DAG is parsed, and its errors
can say which DAG, task and file they are about."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow_fanout.exceptions import SpecError
from airflow_fanout.spec.model import FanOutSpec, Scalar
from airflow_fanout.spec.validate import load_spec_file, parse_spec


def is_static(value: Any) -> bool:
    """True when nothing in ``value`` is a Jinja template (so it can be validated at parse time)."""
    text = json.dumps(value)
    return "{{" not in text and "{%" not in text


def _dag(task: Any) -> Any:
    """The task's DAG, or None outside one (Airflow raises when asked for a missing DAG)."""
    try:
        return task.dag
    except (RuntimeError, AttributeError):
        return None


def spec_file(task: Any, spec: str) -> Path | None:
    """The file a ``.json`` spec names, found as Airflow finds template files: next to the DAG
    file, then in the DAG's ``template_searchpath``; None when it is not (yet) there."""
    candidate = Path(spec)
    if candidate.is_absolute():
        return candidate if candidate.is_file() else None
    dag = _dag(task)
    folders: list[Path] = []
    if dag is not None and getattr(dag, "fileloc", None):
        folders.append(Path(dag.fileloc).parent)
    searchpath = getattr(dag, "template_searchpath", None) if dag is not None else None
    if isinstance(searchpath, str):
        searchpath = [searchpath]
    folders += [Path(p) for p in searchpath or []]
    return next((f / candidate for f in folders if (f / candidate).is_file()), None)


def where(task: Any, file: Path | str | None = None) -> str:
    """``DAG 'x', task 'y'`` (and the spec file) for error messages."""
    dag = _dag(task)
    dag_id = getattr(dag, "dag_id", None) if dag is not None else None
    text = f"DAG {dag_id!r}, task {task.task_id!r}" if dag_id else f"task {task.task_id!r}"
    return f"{text}, spec file {file}" if file else text


def parse_for(
    task: Any, doc: Any, params: dict[str, Scalar] | None = None, file: Path | str | None = None
) -> FanOutSpec:
    """``parse_spec`` whose errors name the DAG, the task (and the file)."""
    try:
        return parse_spec(doc, params)
    except SpecError as exc:
        raise SpecError(exc.issues, where=where(task, file)) from None


def parse_time_doc(task: Any, spec: dict[str, Any] | str) -> tuple[Any, Path | None] | None:
    """The spec as the DAG file gives it, when it can be read without rendering: a dict without
    Jinja, or a ``.json`` file without Jinja next to the DAG; None otherwise (checked at run time)."""
    if isinstance(spec, dict):
        return (spec, None) if is_static(spec) else None
    if not spec.endswith(".json"):
        return None
    path = spec_file(task, spec)
    if path is None:
        return None
    text = path.read_text(encoding="utf-8")
    if "{{" in text or "{%" in text:
        return None
    try:
        doc = load_spec_file(path)
    except SpecError as exc:
        raise SpecError(exc.issues, where=where(task, path)) from None
    return doc, path
