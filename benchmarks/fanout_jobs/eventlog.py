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

Timing (seconds from the application's start): when the first job was submitted (JVM, session
and stream start-up before it), how long at least one job was running (``jobs_busy_s``), and the
same for Delta's state reconstruction jobs ("Compute snapshot for version ..."): Delta 4.4 runs
them for every write that carries a ``txnAppId`` (it rebuilds the table state to look the id up,
although the version's ``.crc`` file lists it), so their share tells how much of a run is that.

Not counted: a task whose scan output no row (every row filtered in the JSON reader), which
Spark does not report; at benchmark sizes every file has rows of every route.

No Spark needed."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
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
    start_s: float = 0.0  # submission, seconds after the application started


#: Description of Delta's state reconstruction jobs (a snapshot's computed state).
SNAPSHOT_JOB = "Compute snapshot for version"


@dataclass
class EventLogSummary:
    """What one application did, from its event log."""

    jobs: int = 0
    stages: int = 0
    tasks: int = 0
    source_bytes: int = 0
    input_bytes_total: int = 0  # every task's input metric: files, Delta tables and cache blocks
    job_list: list[JobInfo] = field(default_factory=list)
    app_s: float = 0.0  # application start to end
    first_job_s: float = 0.0  # application start to the first job's submission
    jobs_busy_s: float = 0.0  # time with at least one job running
    snapshot_jobs: int = 0  # Delta state reconstruction jobs
    snapshot_busy_s: float = 0.0  # time with at least one of them running

    def timeline(self) -> str:
        """One line per job, in submission order: start, duration, stages, description."""
        lines = [f"{'start':>7} {'dur':>6} st  description"]
        for job in sorted(self.job_list, key=lambda j: (j.start_s, j.job_id)):
            lines.append(f"{job.start_s:7.2f} {job.duration_s:6.2f} {job.stages:2d}  {job.description[:90]}")
        lines.append(
            f"application {self.app_s:.1f} s, first job at {self.first_job_s:.1f} s, jobs running "
            f"{self.jobs_busy_s:.1f} s, of which Delta state reconstruction ({self.snapshot_jobs} jobs) "
            f"{self.snapshot_busy_s:.1f} s"
        )
        return "\n".join(lines)


def busy_seconds(spans: Iterable[tuple[float, float]]) -> float:
    """Length of the union of ``(start, end)`` spans."""
    total, current = 0.0, None
    for start, end in sorted(spans):
        if current is None or start > current[1]:
            if current is not None:
                total += current[1] - current[0]
            current = [start, end]
        else:
            current[1] = max(current[1], end)
    if current is not None:
        total += current[1] - current[0]
    return total


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
    app_start = app_end = None
    for event in events:
        kind = event["Event"]
        if kind == "SparkListenerApplicationStart":
            app_start = event["Timestamp"] / 1000
        elif kind == "SparkListenerApplicationEnd":
            app_end = event["Timestamp"] / 1000
        elif kind == "SparkListenerJobStart":
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
                        start_s=round(start["Submission Time"] / 1000 - (app_start or 0.0), 3),
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
    spans = [(j.start_s, j.start_s + j.duration_s) for j in out.job_list]
    snapshot = [(j.start_s, j.start_s + j.duration_s) for j in out.job_list if SNAPSHOT_JOB in j.description]
    if app_start is not None and app_end is not None:
        out.app_s = round(app_end - app_start, 3)
    out.first_job_s = round(min((s for s, _ in spans), default=0.0), 3)
    out.jobs_busy_s = round(busy_seconds(spans), 3)
    out.snapshot_jobs = len(snapshot)
    out.snapshot_busy_s = round(busy_seconds(snapshot), 3)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m benchmarks.fanout_jobs.eventlog FOLDER...``: each run's job timeline."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("folders", nargs="+", type=Path, help="a run's spark.eventLog.dir (one application)")
    for folder in parser.parse_args(argv).folders:
        print(f"== {folder}")
        print(summarize_event_log(find_event_log(folder)).timeline())


if __name__ == "__main__":
    main()
