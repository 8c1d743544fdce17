"""Error types. One base, ``FanOutError``; spec errors carry JSON paths, run errors a sink and batch."""

from __future__ import annotations

from dataclasses import dataclass


class FanOutError(Exception):
    """Base class of every error airflow-fanout raises on purpose."""


@dataclass(frozen=True)
class SpecIssue:
    """One problem in a spec: where (a JSON path such as ``sinks[2].merge.keys``) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '<spec>'}: {self.message}"


class SpecError(FanOutError):
    """The spec is invalid. ``issues`` lists every problem found, each with its JSON path."""

    def __init__(self, issues: list[SpecIssue], where: str | None = None) -> None:
        self.issues = list(issues)
        #: which spec: e.g. "DAG 'daily', task 'write_day', spec file dags/specs/x.json"
        self.where = where
        lines = "\n".join(f"  - {issue}" for issue in self.issues)
        of = f" in {where}" if where else ""
        super().__init__(f"invalid fan-out spec{of} ({len(self.issues)} error(s)):\n{lines}")


class RunError(FanOutError):
    """A run failed while writing a sink."""

    def __init__(self, message: str, *, sink: str | None = None, batch_id: int | None = None) -> None:
        self.sink = sink
        self.batch_id = batch_id
        where = []
        if sink is not None:
            where.append(f"sink '{sink}'")
        if batch_id is not None:
            where.append(f"batch {batch_id}")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(f"{prefix}{message}")


class CheckpointResetError(RunError):
    """The checkpoint is behind what the sink tables recorded: it was deleted or reset."""


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (Spark and py4j errors carry whole stack traces), or
    its type name when the message is empty."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if first.startswith("An error occurred while calling "):
        # py4j's own line names only the JVM call: the Java exception says what went wrong
        cause = _java_cause(exc)
        if cause:
            return f"{cause} (in {first.removeprefix('An error occurred while calling ').rstrip('.')})"
    return first


def _java_cause(exc: BaseException) -> str | None:
    """The first line of a ``Py4JJavaError``'s Java exception, and of its deepest cause."""
    java = getattr(exc, "java_exception", None)
    if java is None:
        return None
    try:
        top = str(java.toString()).splitlines()[0]
        deepest, cause, depth = top, java.getCause(), 0
        while cause is not None and depth < 20:
            deepest, cause, depth = str(cause.toString()).splitlines()[0], cause.getCause(), depth + 1
    except Exception:  # the gateway is gone: keep py4j's line
        return None
    return top if deepest == top else f"{top}; caused by {deepest}"


class ConcurrentRunError(RunError):
    """Another run of the same spec (same app id, same slice) holds the run lock."""
