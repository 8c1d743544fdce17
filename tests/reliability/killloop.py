"""Kill the driver's spark-submit process group with SIGKILL at random (seeded) moments, rerun it
to completion, and compare every table with a clean run over the same files.

Used by ``tests/reliability/test_kill_loop.py`` (25 kills) and by ``make soak`` (200 kills):

    python -m tests.reliability.killloop --kills 200 --seed 1 --root /tmp/soak

The spec covers every kind of write: a raw append with expectations and a dead letter, a route,
a MERGE sequenced by event time, a CDC MERGE with deletes and tombstones, a windowed aggregate
view of the MERGE sink and a keyed view (a route) of the CDC sink.

Batch boundaries are not part of the comparison. ``maxFilesPerTrigger`` is a soft limit: when a
kill lands after the file source logged the files of batch N (``sources/0/N``) but before the
offset log did (``offsets/N``), the restarted query plans batch N up to its next file and takes
both files in one batch (Spark's FileStreamSource; nothing is lost or doubled). So ``_batch_id``
values and how many batches there were can differ from the clean run; the tables must not. The
clean run makes the point on purpose: it takes every file in one micro-batch. The
comparison leaves ``_batch_id`` out of the rows and checks it on its own: every file's rows share
one batch id, batch ids grow with the files, and every sink's txn version is the last batch of
its own run's checkpoint, and every view's txn version is its upstream table's version. The CDC
sink sequences changes by event time (then arrival) and keeps tombstones, so its final state does
not depend on which changes shared a batch either: a change older than a delete, landing in a
later batch, stays out."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
from deltalake import DeltaTable

from airflow_fanout.sample_data import EVENT_SCHEMA, generate_events
from airflow_fanout.submit import SHORT_RUN_JVM_CONFS, submit_command, submit_env

ROWS_PER_BATCH = 120
APP_ID = "killloop"
#: arrival order of a row: landing file number * SEQ_PER_FILE + line number
SEQ_PER_FILE = 100_000
#: columns whose values legitimately differ between two runs: a timestamp, and the batch id
#: (checked on its own by ``check_batch_ids``; see the module docstring)
VOLATILE_COLUMNS = frozenset({"_processed_at", "_batch_id"})
#: sink name -> the key that must be unique in it (None: an append, duplicates come from the data)
SINK_KEYS: dict[str, tuple[str, ...] | None] = {
    "bronze": None,
    "refunds": None,
    "silver": ("event_id",),
    "users": ("user_id",),
    "gold": ("window_start", "window_end", "event_type"),
    "big_spenders": ("user_id",),
}
#: view -> the sink whose table it follows (its txn version is that table's version)
VIEWS = {"gold": "silver", "big_spenders": "users"}
COMMIT_MARK = " txn "  # a "written" sink log line: "... -> <target> version N txn <app>@<v> in 0.4s"


@dataclass(frozen=True)
class Lake:
    """Where a run's tables and stream checkpoint live: beside its landing files (``url`` None),
    or under an object-store URL (``s3a://bucket/prefix``; the landing files stay local). One
    run root ``<root>/killed`` keeps its tables at ``<url>/killed/lake/...``."""

    url: str | None = None
    storage_options: dict[str, str] | None = None
    spark_confs: dict[str, str] = field(default_factory=dict)

    def root(self, run_root: Path) -> str:
        return str(run_root) if self.url is None else f"{self.url}/{run_root.name}"

    def table(self, run_root: Path, name: str) -> DeltaTable | None:
        path = f"{self.root(run_root)}/lake/{name}".replace("s3a://", "s3://")
        if not DeltaTable.is_deltatable(path, storage_options=self.storage_options):
            return None
        return DeltaTable(path, storage_options=self.storage_options)

    def committed_batches(self, run_root: Path) -> list[int]:
        """The batch ids the query's checkpoint marks as committed (``commits/<id>``)."""
        commits = f"{self.root(run_root)}/checkpoint/commits"
        if self.url is None:
            folder = Path(commits)
            return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) if folder.exists() else []
        import obstore

        from airflow_fanout.storage import object_path, object_store

        where = object_path(commits)
        assert where is not None
        names = [
            m["path"].rsplit("/", 1)[1]
            for page in obstore.list(object_store(where, self.storage_options), f"{where.key}/")
            for m in page
        ]
        return sorted(int(n) for n in names if n.isdigit())


LOCAL = Lake()


def kill_spec(root: Path, *, one_batch: bool = False, where: Lake = LOCAL) -> dict[str, Any]:
    """The killed spec: one landing file per micro-batch. ``one_batch``: the clean reference
    takes every file in one micro-batch instead (faster, and a reference with other batch
    boundaries than any killed run shows the comparison does not depend on them)."""
    lake = _Folder(f"{where.root(root)}/lake")
    return {
        "version": 1,
        "app_id": APP_ID,
        "source": {
            "format": "json",
            "path": str(root / "landing"),
            "schema": f"{EVENT_SCHEMA}, seq BIGINT",
            "options": {} if one_batch else {"maxFilesPerTrigger": 1},
            "corrupt_records": "dead_letter",
        },
        "run": {
            "mode": "stream",
            "trigger": {"available_now": True},
            "checkpoint": f"{where.root(root)}/checkpoint",
            "max_parallel_sinks": 3,
        },
        "sinks": [
            {
                "name": "bronze",
                "path": str(lake / "bronze"),
                "mode": "append",
                "columns": {"_batch_id": ":batch_id"},
                "expect": [
                    {"name": "has_id", "check": "event_id IS NOT NULL", "on_fail": "dead_letter"},
                    {"name": "amount_not_negative", "check": "amount >= 0", "on_fail": "dead_letter"},
                ],
            },
            {
                "name": "refunds",
                "from": "bronze",
                "path": str(lake / "refunds"),
                "mode": "append",
                "where": "event_type = 'refund'",
                "select": ["event_id", "user_id", "amount", "event_time", "seq"],
            },
            {
                "name": "silver",
                "from": "bronze",
                "path": str(lake / "silver"),
                "mode": "merge",
                "merge": {"keys": ["event_id"], "sequence_by": ["event_time", "seq"]},
            },
            {
                # CDC: the latest change per user (by event time, then arrival) wins; a refund
                # deletes the row and leaves a tombstone
                "name": "users",
                "from": "bronze",
                "path": str(lake / "users"),
                "mode": "merge",
                "columns": {"_seq": "seq"},
                "select": ["user_id", "event_type", "amount", "event_time", "_seq"],
                "merge": {
                    "keys": ["user_id"],
                    "sequence_by": ["event_time", "_seq"],
                    "delete_when": "event_type = 'refund'",
                },
            },
            {
                "name": "big_spenders",
                "from": "users",
                "path": str(lake / "big_spenders"),
                "mode": "merge",
                "where": "amount > 250",
            },
            {
                "name": "gold",
                "from": "silver",
                "path": str(lake / "gold"),
                "mode": "merge",
                "aggregate": {
                    "window": {"column": "event_time", "duration": "1 hour"},
                    "group_by": ["event_type"],
                    "measures": {"events": "count(*)", "revenue": "sum(amount)"},
                },
            },
        ],
        "dead_letter": {"path": str(lake / "dead_letter")},
    }


class _Folder(str):
    """A lake root as text that joins with ``/`` like a Path (a local folder or a URL)."""

    def __truediv__(self, name: str) -> str:
        return f"{self}/{name}"


def land_batch(landing: Path, batch: int) -> Path:
    """One landing file per batch, with a fixed modification time so both runs see the same order.
    (Invalid rows come from the generator: null ids and negative amounts, for the dead letters.)"""
    events = generate_events(batch, ROWS_PER_BATCH, seed=11)
    lines = [json.dumps({**e.to_json(), "seq": batch * SEQ_PER_FILE + i}) for i, e in enumerate(events)]
    lines.insert(batch % len(lines), f'{{"event_id": "broken-{batch}", "amount": ')  # unparseable
    landing.mkdir(parents=True, exist_ok=True)
    target = landing / f"batch-{batch:04d}.json"
    tmp = landing / f".batch-{batch:04d}.json.tmp"
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    stamp = 1_700_000_000 + batch
    os.utime(tmp, (stamp, stamp))
    tmp.rename(target)  # the stream never sees a half-written file
    return target


@dataclass
class Attempt:
    """One spark-submit run: killed after ``commits_seen`` sink commits, or finished."""

    number: int
    plan: str
    killed: bool
    exit_code: int | None
    commits_seen: int
    seconds: float


@dataclass
class KillLoopResult:
    kills: int = 0
    kills_after_a_commit: int = 0
    completed_runs: int = 0
    batches_landed: int = 0
    attempts: list[Attempt] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    rows_compared: dict[str, int] = field(default_factory=dict)
    #: "after kills" / "clean run" -> micro-batches the query ran (after kills: one per file, or
    #: fewer when a restarted batch took two files; the clean run: one)
    batches_per_run: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"{self.kills} kill(s) ({self.kills_after_a_commit} after a sink commit), "
            f"{self.completed_runs} completed run(s), {self.batches_landed} file(s) landed, "
            f"micro-batches {self.batches_per_run}, "
            f"{sum(self.rows_compared.values())} row(s) compared, {len(self.mismatches)} mismatch(es)"
        )


class DriverProcess:
    """spark-submit in its own process group; counts sink commits from its log lines."""

    def __init__(self, spec_path: Path, report: Path, where: Lake = LOCAL) -> None:
        confs = {
            **where.spark_confs,
            "spark.ui.enabled": "false",
            "spark.sql.session.timeZone": "UTC",
            # tiny batches: one partition per shuffle, no adaptive re-planning (about 20% faster)
            "spark.sql.shuffle.partitions": "1",
            "spark.databricks.delta.snapshotPartitions": "1",
            "spark.sql.adaptive.enabled": "false",
            # short-lived JVMs (killed within seconds): C1 only and the serial GC start and commit
            # sooner on 2 busy cores; what a kill can interrupt does not depend on the JIT
            **SHORT_RUN_JVM_CONFS,
        }
        command = submit_command(
            str(spec_path), master="local[2]", report=str(report), confs=confs, s3a=where.url is not None
        )
        self.proc = subprocess.Popen(
            command,
            env=submit_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: the kill takes the JVM and Python
        )
        self.commits = 0
        self.lines: list[str] = []
        #: every line of the run (spark-submit's and the driver's), kept next to its report: the
        #: last lines printed on a failure often hold only the end of a JVM stack trace
        self.log_path = report.with_suffix(".log")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.log_path.open("w") as log:
            for line in self.proc.stdout:
                log.write(line)
                with self._changed:
                    self.lines.append(line)
                    if COMMIT_MARK in line and " -> " in line:
                        self.commits += 1
                    self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for_commits(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.commits < count and self.proc.poll() is None and time.monotonic() < deadline:
                self._changed.wait(timeout=0.2)

    def kill_group(self) -> None:
        """SIGKILL the whole process group and wait until no process of it is left."""
        try:
            family = [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            family = []
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)
        _, alive = psutil.wait_procs(family, timeout=30)
        if alive:
            raise RuntimeError(f"processes left after SIGKILL: {[p.pid for p in alive]}")
        self._reader.join(timeout=30)

    def error_lines(self) -> list[str]:
        """Where it went wrong first: the lines naming an error or exception, or their cause."""
        return [line for line in self.lines if "Error" in line or "Exception" in line or "Caused by" in line]

    def finish(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=30)
        return code


def run_to_completion(spec_path: Path, report: Path, timeout: float = 600, where: Lake = LOCAL) -> DriverProcess:
    """One uninterrupted run; on a failure its log's error lines and end go to stderr."""
    driver = DriverProcess(spec_path, report, where)
    if driver.finish(timeout) != 0:
        sys.stderr.write(f"whole log: {driver.log_path}\n{''.join(driver.error_lines()[:30])}...\n")
        sys.stderr.write("".join(driver.lines[-40:]))
    return driver


def _comparable(value: Any) -> str:
    # A sum of doubles depends on the order Spark adds them in (partitioning): compare 9 digits.
    return repr(round(value, 9)) if isinstance(value, float) else repr(value)


def table_rows(table: DeltaTable | None) -> list[tuple[tuple[str, str], ...]]:
    """Every row as a sorted tuple of (column, value as text), volatile columns left out."""
    if table is None:
        return []
    out = []
    for row in table.to_pyarrow_table().to_pylist():
        out.append(tuple(sorted((k, _comparable(v)) for k, v in row.items() if k not in VOLATILE_COLUMNS)))
    return out


def compare_tables(
    killed: Path, clean: Path, result: KillLoopResult, killed_lake: Lake = LOCAL, clean_lake: Lake = LOCAL
) -> None:
    """``killed`` and ``clean`` are run roots (``lake/`` and ``checkpoint/`` inside, or in their lake)."""
    for name in [*SINK_KEYS, "dead_letter"]:
        got, want = table_rows(killed_lake.table(killed, name)), table_rows(clean_lake.table(clean, name))
        result.rows_compared[name] = len(want)
        if not want:
            result.mismatches.append(f"{name}: the clean run wrote no rows (the comparison would prove nothing)")
        extra, missing = Counter(got) - Counter(want), Counter(want) - Counter(got)
        if extra or missing:
            result.mismatches.append(
                f"{name}: {sum(extra.values())} row(s) only after kills (doubled?), "
                f"{sum(missing.values())} only in the clean run (lost?); e.g. {next(iter(extra or missing))}"
            )
        keys = SINK_KEYS.get(name)
        if keys:
            seen = Counter(tuple(dict(r)[k] for k in keys) for r in got)
            dupes = [k for k, n in seen.items() if n > 1]
            if dupes:
                result.mismatches.append(f"{name}: duplicate keys {dupes[:3]}")
    for run, root, lake in (("after kills", killed, killed_lake), ("clean run", clean, clean_lake)):
        check_txn_versions(root, run, result, lake)
        check_batch_ids(lake.table(root, "bronze"), run, result)


def check_txn_versions(root: Path, run: str, result: KillLoopResult, lake: Lake = LOCAL) -> None:
    """Every sink, and the dead letters, committed the last batch of this run's own checkpoint:
    the txn version follows the query's batch ids, whatever the batch boundaries were."""
    last = max(lake.committed_batches(root))
    result.batches_per_run[run] = last + 1
    for name in [*SINK_KEYS, "dead_letter"]:
        table = lake.table(root, name)
        assert table is not None, name
        if name in VIEWS:
            upstream_table = lake.table(root, VIEWS[name])
            assert upstream_table is not None
            upstream = upstream_table.version()
            if table.transaction_version(f"{APP_ID}.{name}") != upstream:
                result.mismatches.append(f"{run}: view {name} is not at {VIEWS[name]}'s version {upstream}")
            continue
        for app in _app_ids(name):
            version = table.transaction_version(app)
            if version != last:
                result.mismatches.append(f"{run}: {name} txn {app} at {version}, the checkpoint's last batch is {last}")


def check_batch_ids(bronze: DeltaTable | None, run: str, result: KillLoopResult) -> None:
    """Each landing file was written in exactly one batch, and batches follow the files' order."""
    batch_of_file: dict[int, set[int]] = {}
    assert bronze is not None
    for row in bronze.to_pyarrow_table(columns=["seq", "_batch_id"]).to_pylist():
        batch_of_file.setdefault(row["seq"] // SEQ_PER_FILE, set()).add(row["_batch_id"])
    split = {f: sorted(b) for f, b in batch_of_file.items() if len(b) > 1}
    if split:
        result.mismatches.append(f"{run}: a file's rows were written in several batches: {split}")
    order = [min(batch_of_file[f]) for f in sorted(batch_of_file)]
    if order != sorted(order):
        result.mismatches.append(f"{run}: batch ids do not follow the files' order: {order}")


def _app_ids(table: str) -> list[str]:
    if table == "dead_letter":
        return [f"{APP_ID}._dead_letter.bronze", f"{APP_ID}._dead_letter._source"]
    return [f"{APP_ID}.{table}"]


def clean_run_through_spark_submit(root: Path) -> None:
    """The reference run: the spec over ``root/landing``, through spark-submit, no kills."""
    spec = root / "spec.json"
    spec.write_text(json.dumps(kill_spec(root, one_batch=True), indent=2))
    driver = run_to_completion(spec, root / "reports" / "clean.json")
    if driver.proc.returncode != 0:
        raise RuntimeError(f"exit code {driver.proc.returncode} (log {driver.log_path})")


def kill_loop(
    root: Path,
    kills: int,
    seed: int,
    say: Callable[[str], None] = print,
    clean_run: Callable[[Path], None] = clean_run_through_spark_submit,
    where: Lake = LOCAL,
) -> KillLoopResult:
    """Run and kill until ``kills`` kills are done (landing a new file whenever fewer than two
    are waiting, so every attempt has a batch to be killed in), finish, then compare with a
    clean run over the same files. ``where``: the killed run's lake (the clean run's is local)."""
    rng = random.Random(seed)
    result = KillLoopResult()
    killed_root, clean_root = root / "killed", root / "clean"
    spec_path = killed_root / "spec.json"
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    spec_path.write_text(json.dumps(kill_spec(killed_root, where=where), indent=2))
    number = 0
    while result.kills < kills:
        number += 1
        # Half the kills at a random time from start (often during start-up or planning), half
        # just after a random number of sink commits (inside a batch, between waves or sinks).
        if rng.random() < 0.4:
            plan, delay, commits = "time", rng.uniform(0.5, 8.0), 0
        else:
            plan, delay, commits = "commits", rng.uniform(0.0, 0.5), rng.randint(1, 4)
        if result.batches_landed - len(where.committed_batches(killed_root)) < 2:
            land_batch(killed_root / "landing", result.batches_landed)  # work for this attempt
            result.batches_landed += 1
        started = time.monotonic()
        driver = DriverProcess(spec_path, killed_root / "reports" / f"attempt-{number}.json", where)
        if plan == "time":
            with contextlib.suppress(subprocess.TimeoutExpired):
                driver.proc.wait(timeout=delay)
        else:
            driver.wait_for_commits(commits, timeout=120)
            time.sleep(delay)
        if driver.proc.poll() is None:
            seen = driver.commits
            driver.kill_group()
            result.kills += 1
            result.kills_after_a_commit += seen > 0
            attempt = Attempt(number, f"{plan} {delay:.2f}s/{commits}", True, None, seen, time.monotonic() - started)
        else:
            code = driver.finish(60)
            attempt = Attempt(number, plan, False, code, driver.commits, time.monotonic() - started)
            if code != 0:
                result.mismatches.append(f"attempt {number} failed with exit code {code}: {driver.lines[-5:]}")
                break
            result.completed_runs += 1
        result.attempts.append(attempt)
        say(f"attempt {number}: {asdict(attempt)}")
    final = run_to_completion(spec_path, killed_root / "reports" / "final.json", where=where)
    if final.proc.returncode != 0:
        first = next(iter(final.error_lines()), "no error line").strip()
        result.mismatches.append(
            f"the final run after the kills failed: exit code {final.proc.returncode}, {first[:300]}"
            f" (log {final.log_path})"
        )
    # The clean run: the same files (same modification times, so the same batches), no kills.
    shutil.copytree(killed_root / "landing", clean_root / "landing", copy_function=shutil.copy2)
    try:
        clean_run(clean_root)
    except Exception as exc:
        result.mismatches.append(f"the clean run failed: {exc}")
    compare_tables(killed_root, clean_root, result, killed_lake=where)
    say(result.summary())
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--root", required=True, help="an empty folder for the data and tables")
    parser.add_argument("--out", help="write the result as JSON here")
    args = parser.parse_args(argv)
    result = kill_loop(Path(args.root), args.kills, args.seed)
    if args.out:
        Path(args.out).write_text(json.dumps(asdict(result), indent=2) + "\n")
    return 1 if result.mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
