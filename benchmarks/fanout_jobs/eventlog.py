"""Read a Spark event log (JSON lines, one file or a rolling ``eventlog_v2_*`` folder) into the
counts the fan-out benchmark reports: jobs, executed stages, and how much of the source was read.

Source reads are told apart from cache and Delta reads through the SQL plans: every
``Scan json`` node of every plan (the workload's only JSON input; Delta's own log scans are
excluded by their ``DeltaLogFileIndex`` location) is found, and ``source_bytes`` sums the input
bytes of the tasks that ran one of them (their "number of output rows" metric is in the task's
accumulator updates). So ``source_bytes / size of the batch's files`` is the number of passes over
the source. Two simpler measures are wrong:

- all task input bytes: a task reading a cached block reports its in-memory size as bytes read;
- the scan's driver-side "size of files read": in ``foreachBatch`` every action on the batch
  reuses the micro-batch's one physical scan, whose driver metric is set once however many
  times its files are read again (a tutorial-style batch read 16 times showed up as 1).

Not counted: a task whose scan output no row (every row filtered in the JSON reader), which
Spark does not report; at benchmark sizes every file has rows of every route.

No Spark needed."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SQL_START = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart"
_SQL_PLAN_UPDATE = "org.apache.spark.sql.execution.ui.SparkListenerSQLAdaptiveExecutionUpdate"


@dataclass(frozen=True)
class JobInfo:
    """One Spark job: what started it (the job description the code set, and Spark's call site)."""

    job_id: int
    description: str
    call_site: str
    stages: int
    duration_s: float


@dataclass
class EventLogSummary:
    """What one application did, from its event log."""

    jobs: int = 0
    stages: int = 0
    tasks: int = 0
    source_bytes: int = 0
    input_bytes_total: int = 0  # every task's input metric: files, Delta tables and cache blocks
    job_list: list[JobInfo] = field(default_factory=list)


def event_files(path: Path) -> list[Path]:
    """The event log files of one application: the file itself, or a rolling log's parts in order."""
    if path.is_file():
        return [path]
    parts = sorted(path.glob("events_*"), key=lambda p: int(p.name.split("_")[1]))
    return parts


def find_event_log(folder: Path) -> Path:
    """The one application's log in ``spark.eventLog.dir`` (each run has a folder of its own)."""
    logs = [p for p in folder.iterdir() if not p.name.startswith(".") and not p.name.endswith(".inprogress")]
    if len(logs) != 1:
        raise RuntimeError(f"expected one event log in {folder}, found {[p.name for p in logs]}")
    return logs[0]


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    for part in event_files(path):
        with part.open(encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    yield json.loads(line)


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("children", []):
        yield from _plan_nodes(child)


def _is_source_scan(node: dict[str, Any]) -> bool:
    """A JSON file scan that is not Delta reading its own log (``DeltaLogFileIndex``; the
    ``_delta_log`` path itself may be cut from the plan string)."""
    text = str(node.get("simpleString", ""))
    return (
        str(node.get("nodeName", "")).startswith("Scan json")
        and "DeltaLogFileIndex" not in text
        and "_delta_log" not in text
    )


def _source_metric_ids(events: Iterable[dict[str, Any]]) -> set[int]:
    """Accumulator ids of the source scans' "number of output rows" metric."""
    ids: set[int] = set()
    for event in events:
        if event["Event"] not in (_SQL_START, _SQL_PLAN_UPDATE):
            continue
        for node in _plan_nodes(event["sparkPlanInfo"]):
            if not _is_source_scan(node):
                continue
            for metric in node.get("metrics", []):
                if metric["name"] == "number of output rows":
                    ids.add(int(metric["accumulatorId"]))
    return ids


def summarize_event_log(path: Path) -> EventLogSummary:
    """Counts of one application's event log (``path``: a file or a rolling-log folder)."""
    events = list(read_events(path))
    scan_ids = _source_metric_ids(events)
    out = EventLogSummary()
    starts: dict[int, dict[str, Any]] = {}
    for event in events:
        kind = event["Event"]
        if kind == "SparkListenerJobStart":
            out.jobs += 1
            starts[event["Job ID"]] = event
        elif kind == "SparkListenerJobEnd":
            start = starts.get(event["Job ID"])
            if start is not None:
                props = start.get("Properties") or {}
                out.job_list.append(
                    JobInfo(
                        job_id=int(event["Job ID"]),
                        description=str(props.get("spark.job.description") or ""),
                        call_site=str(props.get("callSite.short") or ""),
                        stages=len(start.get("Stage IDs", [])),
                        duration_s=(event["Completion Time"] - start["Submission Time"]) / 1000,
                    )
                )
        elif kind == "SparkListenerStageCompleted":
            out.stages += 1
        elif kind == "SparkListenerTaskEnd":
            out.tasks += 1
            metrics = event.get("Task Metrics") or {}
            read = int((metrics.get("Input Metrics") or {}).get("Bytes Read", 0))
            out.input_bytes_total += read
            accumulators = (event.get("Task Info") or {}).get("Accumulables", [])
            if any(acc.get("ID") in scan_ids for acc in accumulators):
                out.source_bytes += read
    return out
