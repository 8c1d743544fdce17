"""Workload B, "watching commits": what one status check of 8 sinks costs, the check the sensor
(``DeltaTxnSensor.poke``) and its trigger (``DeltaTxnTrigger.run``) make on every poll, as the
sinks' Delta logs grow.

Contenders, all asked for the txn version of the same app id on the same 8 tables:

* ``sensor (txnlog)``: ``airflow_fanout.status.lagging()`` over 8 ``WatchedSink``s, the exact call
  of the sensor and the trigger (it reads each log with ``airflow_fanout.txnlog``: the ``txn``
  column of the last checkpoint + the JSON commits after it). Per table: ``sink_status()``.
* ``deltalake``: ``deltalake.DeltaTable(path).transaction_version(app_id)`` (loads the snapshot:
  replays every file action of the last checkpoint and the commits after it).
* ``spark DeltaLog (cache cleared)``: in an already-running SparkSession, through py4j,
  ``DeltaLog.forTable(spark, path).update().transactions().get(app_id)`` after
  ``DeltaLog.invalidateCache(spark, path)``: the snapshot state is rebuilt, as it is whenever a new
  commit landed.
* ``spark DeltaLog (cached)``: the same with the DeltaLog cache kept, on a log that did not move
  (a listing and a cached map lookup): Spark's best case.
* ``spark DESCRIBE HISTORY LIMIT 1``: reference only; history has no txn versions, so it is checked
  against the table version.
* ``spark startup``: seconds to a ready SparkSession with Delta (and the first check in that cold
  JVM), once in this process and again in fresh child processes: what a JVM-based check pays
  per poke when no session is kept running.

Tables (built once, cached under ``--work-dir`` keyed by their parameters):

* ``few``: N commits, each an append of one small parquet file (2 rows) carrying a txn
  (``status_bench.events``, version = commit version), like the driver's writes. Version 0 is a
  delta-rs ``write_deltalake``; versions 1.. are written directly as the three JSON lines delta-rs
  writes for such an append (commitInfo, add with stats, txn), each add naming a real parquet
  file: delta-rs's own commit lists the whole ``_delta_log`` every time (~30 ms of CPU per commit
  at 3,000 commits, ~80 ms wall under load), which makes 10,000 commits an hour's build.
* ``10k`` / ``100k``: the same N commits, except that one commit adds the bulk of the files at once
  (a delta-rs ``create_write_transaction`` with one ``add`` per real, readable parquet file,
  copied from 100 templates into a pool and hard-linked into the table, with the stats delta-rs
  writes), so that the table holds exactly 10,000 / 100,000 data files. The bulk commit is placed
  one checkpoint interval before the last checkpoint (version 9,980 of 10,000; the commits before
  it are copied from the ``few`` table), so every checkpoint from then on holds all the files while
  the older ones stay small: no contender reads an older checkpoint (all start from the newest),
  and the build stays affordable. With 10 commits there is no checkpoint yet, and the bulk commit
  (version 1) is JSON that every reader must scan.
* Checkpoints, all written by delta-rs (``DeltaTable.create_checkpoint()``), at the versions Delta
  Spark writes them: after every version divisible by 10 (``delta.checkpointInterval`` = 10).
  delta-rs's own post-commit hook honours ``delta.checkpointInterval`` but checkpoints after
  versions 9, 19, ... (one commit earlier than Delta Spark), so the hook is off.
* 8 sinks per table: 8 copies of the built table (the JSON commits, ``_last_checkpoint`` and the
  newest checkpoint are real copies; older checkpoints and the data files, which no contender
  opens, are hard links, never symlinks). All 8 carry the same app id.

Every timing runs against warm OS caches: each contender makes one untimed pass first (which
also asserts that it agrees with the expected txn version; its time is kept as ``first_*``).

    python -m benchmarks.status_check [--quick] [--commits 10 1000 10000] [--files few 100k] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, PostCommitHookProperties, Transaction, write_deltalake
from deltalake.transaction import AddAction, RemoveAction

from airflow_fanout.spec.naming import txn_app_id
from airflow_fanout.status import WatchedSink, lagging, sink_status
from airflow_fanout.submit import SNAPSHOT_PARTITIONS
from benchmarks.common import PLOTS_DIR, ROOT, local_delta_session, run_process, spark_env, summarize, write_results

NAME = "status_check"
#: Bump when the way tables are built changes: cached tables of another recipe are not reused.
RECIPE = 2
APP_ID = txn_app_id("status_bench", "events")
CHECKPOINT_INTERVAL = 10
SINKS = 8
TEMPLATES = 100
DEFAULT_WORK_DIR = Path("/tmp/status-bench")
SCHEMA = pa.schema([("id", pa.int64()), ("value", pa.string())])
NO_HOOKS = PostCommitHookProperties(create_checkpoint=False, cleanup_expired_logs=False)
TARGET_PER_TABLE_MS = 20.0
TARGET_SPEEDUP = 10.0

_COMMIT = re.compile(r"^(\d{20})\.json$")
_CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint\.parquet$")

SENSOR = "sensor (txnlog)"
DELTALAKE = "deltalake"
SPARK_CLEARED = "spark DeltaLog (cache cleared)"
SPARK_CACHED = "spark DeltaLog (cached)"
SPARK_HISTORY = "spark DESCRIBE HISTORY LIMIT 1"
SPARK_STARTUP = "spark startup"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------------------------
# Tables


@dataclass(frozen=True)
class TableSpec:
    """A table of ``commits`` commits; ``files`` is None for one small file per commit ("few"),
    else the exact number of data files the table holds."""

    commits: int
    files: int | None

    @property
    def label(self) -> str:
        return "few" if self.files is None else files_label(self.files)

    @property
    def key(self) -> str:
        return f"r{RECIPE}-c{self.commits}-{'few' if self.files is None else f'f{self.files}'}"

    @property
    def data_files(self) -> int:
        return self.commits if self.files is None else self.files

    @property
    def bulk_version(self) -> int:
        """The commit that adds the bulk of the files: one interval before the last checkpoint."""
        last_checkpoint = (self.commits - 1) // CHECKPOINT_INTERVAL * CHECKPOINT_INTERVAL
        return max(1, last_checkpoint - CHECKPOINT_INTERVAL)

    @property
    def bulk_files(self) -> int:
        assert self.files is not None
        return self.files - (self.commits - 1)

    @property
    def expected(self) -> int:
        """The txn version (= table version) of the last commit."""
        return self.commits - 1


def files_label(files: int) -> str:
    return f"{files // 1000}k" if files % 1000 == 0 else str(files)


def parse_files(value: str) -> int | None:
    """``few`` -> None; ``10k`` -> 10000; ``100000`` -> 100000."""
    text = value.strip().lower()
    if text == "few":
        return None
    if text.endswith("k"):
        return int(text[:-1]) * 1000
    return int(text)


def _batch(i: int) -> pa.Table:
    ids = [2 * i, 2 * i + 1]
    return pa.table({"id": pa.array(ids, pa.int64()), "value": pa.array([f"v{n}" for n in ids])}, schema=SCHEMA)


def _txn(version: int) -> CommitProperties:
    return CommitProperties(app_transactions=[Transaction(APP_ID, version)])


def _checkpoint_if_due(table: DeltaTable) -> None:
    version = table.version()
    if version > 0 and version % CHECKPOINT_INTERVAL == 0:
        table.create_checkpoint()


class Progress:
    """Prints a build step's progress every few seconds."""

    def __init__(self, what: str, total: int, every_s: float = 5.0) -> None:
        self.what, self.total, self.every_s = what, total, every_s
        self.start = self.last = time.perf_counter()

    def tick(self, done: int) -> None:
        now = time.perf_counter()
        if now - self.last >= self.every_s or done == self.total:
            self.last = now
            log(f"  {self.what}: {done:,}/{self.total:,} ({now - self.start:.1f} s)")


def _append_json(path: Path, i: int) -> None:
    """Commit ``i``: one small parquet file (2 rows, written by pyarrow) and the three lines
    delta-rs writes for such an append (commitInfo, add with stats, txn), written directly."""
    data = _batch(i)
    name = f"part-00000-{uuid.uuid4()}-c000.snappy.parquet"
    pq.write_table(data, path / name, compression="snappy")
    now_ms = int(time.time() * 1000)
    ids, values = data.column("id").to_pylist(), data.column("value").to_pylist()
    stats = {
        "numRecords": data.num_rows,
        "minValues": {"id": min(ids), "value": min(values)},
        "maxValues": {"id": max(ids), "value": max(values)},
        "nullCount": {"id": 0, "value": 0},
    }
    actions = [
        {"commitInfo": {"timestamp": now_ms, **_COMMIT_INFO}},
        {
            "add": {
                "path": name,
                "partitionValues": {},
                "size": (path / name).stat().st_size,
                "modificationTime": now_ms,
                "dataChange": True,
                "stats": json.dumps(stats, separators=(",", ":")),
                "tags": None,
                "baseRowId": None,
                "defaultRowCommitVersion": None,
                "clusteringProvider": None,
            }
        },
        {"txn": {"appId": APP_ID, "version": i}},
    ]
    commit = path / "_delta_log" / f"{i:020d}.json"
    with open(commit, "x", encoding="utf-8") as fh:  # "x": never over an existing version
        fh.write("".join(json.dumps(a, separators=(",", ":")) + "\n" for a in actions))


#: What delta-rs 1.6 writes in the commitInfo of a one-file append (timestamp aside).
_COMMIT_INFO: dict[str, Any] = {
    "operation": "WRITE",
    "operationParameters": {"mode": "Append"},
    "engineInfo": "delta-rs:py-1.6.6",
    "operationMetrics": {
        "num_added_files": 1,
        "num_removed_files": 0,
        "num_partitions": 0,
        "num_added_rows": 2,
        "execution_time_ms": 0,
        "num_retries": 0,
    },
    "clientVersion": "delta-rs.py-1.6.6",
}


def _append_commits(table: DeltaTable, path: Path, versions: range, progress: Progress, offset: int) -> None:
    """Appends ``versions`` (see ``_append_json``); delta-rs writes a checkpoint after each version
    divisible by 10, from a snapshot brought up to date first."""
    for i in versions:
        _append_json(path, i)
        if i % CHECKPOINT_INTERVAL == 0 or i == versions[-1]:
            table.update_incremental()
            assert table.version() == i, (table.version(), i)
            _checkpoint_if_due(table)
        progress.tick(i + 1 - offset)


def _build_few(spec: TableSpec, path: Path) -> None:
    progress = Progress(f"{spec.key} commits", spec.commits)
    write_deltalake(
        str(path),
        _batch(0),
        mode="append",
        configuration={"delta.checkpointInterval": str(CHECKPOINT_INTERVAL)},
        commit_properties=_txn(0),
        post_commithook_properties=NO_HOOKS,
    )
    table = DeltaTable(str(path))
    _append_commits(table, path, range(1, spec.commits), progress, 0)


@dataclass(frozen=True)
class Template:
    path: Path
    size: int
    stats: str


def _templates(work_dir: Path) -> list[Template]:
    """100 small parquet files of 2 rows each, with the stats delta-rs would record for them."""
    folder = work_dir / "templates"
    done = folder / ".complete"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for t in range(TEMPLATES):
            pq.write_table(_batch(1_000_000 + t), folder / f"template-{t:03d}.parquet", compression="snappy")
        done.touch()
    out = []
    for t in range(TEMPLATES):
        ids = [2 * (1_000_000 + t), 2 * (1_000_000 + t) + 1]
        stats = {
            "numRecords": 2,
            "minValues": {"id": ids[0], "value": f"v{ids[0]}"},
            "maxValues": {"id": ids[1], "value": f"v{ids[1]}"},
            "nullCount": {"id": 0, "value": 0},
        }
        path = folder / f"template-{t:03d}.parquet"
        out.append(Template(path, path.stat().st_size, json.dumps(stats, separators=(",", ":"))))
    return out


def _pool(work_dir: Path, count: int) -> Path:
    """``count`` real parquet files (byte copies of the templates) to hard-link into tables."""
    folder = work_dir / "pool"
    folder.mkdir(parents=True, exist_ok=True)
    templates = _templates(work_dir)
    have = len(os.listdir(folder))
    if have >= count:
        return folder
    progress = Progress("pool of data files", count - have)
    for i in range(have, count):
        target = folder / _bulk_name(i)
        if not target.exists():
            shutil.copyfile(templates[i % TEMPLATES].path, target)
        progress.tick(i + 1 - have)
    return folder


def _bulk_name(i: int) -> str:
    return f"part-{i:06d}-bulk-c000.snappy.parquet"


def _build_bulk(spec: TableSpec, path: Path, few: Path, work_dir: Path) -> None:
    """Commits 0 .. bulk-1 copied from the "few" table of the same length (they are the same
    commits), the bulk commit, then appends up to the last commit."""
    bulk = spec.bulk_version
    log_dir = path / "_delta_log"
    log_dir.mkdir(parents=True)
    for name in sorted(os.listdir(few / "_delta_log")):
        if (m := _COMMIT.match(name)) and int(m.group(1)) < bulk:
            shutil.copy2(few / "_delta_log" / name, log_dir / name)
            for line in (log_dir / name).read_text().splitlines():
                if line.startswith('{"add"'):
                    data = json.loads(line)["add"]["path"]
                    os.link(few / data, path / data)
        elif (m := _CHECKPOINT.match(name)) and int(m.group(1)) < bulk:
            os.link(few / "_delta_log" / name, log_dir / name)  # never read again: no copy (~1 GB)
    table = DeltaTable(str(path))
    assert table.version() == bulk - 1, (table.version(), bulk)
    pool = _pool(work_dir, spec.bulk_files)
    templates = _templates(work_dir)
    log(f"  {spec.key}: linking {spec.bulk_files:,} data files for the bulk commit (version {bulk})")
    now_ms = int(time.time() * 1000)
    adds: list[AddAction | RemoveAction] = []
    for i in range(spec.bulk_files):
        os.link(pool / _bulk_name(i), path / _bulk_name(i))
        template = templates[i % TEMPLATES]
        adds.append(AddAction(_bulk_name(i), template.size, {}, now_ms, True, template.stats))
    start = time.perf_counter()
    table.create_write_transaction(
        adds, mode="append", schema=table.schema(), commit_properties=_txn(bulk), post_commithook_properties=NO_HOOKS
    )
    table.update_incremental()
    assert table.version() == bulk, (table.version(), bulk)
    _checkpoint_if_due(table)
    log(f"  {spec.key}: bulk commit + checkpoint {time.perf_counter() - start:.1f} s")
    progress = Progress(f"{spec.key} commits", spec.commits - bulk - 1)
    _append_commits(table, path, range(bulk + 1, spec.commits), progress, bulk + 1)


def ensure_table(spec: TableSpec, work_dir: Path) -> tuple[Path, float]:
    """The built table (built now unless cached) and the seconds its build took (0 if cached)."""
    path = work_dir / spec.key
    if path.is_dir():
        return path, 0.0
    few = ensure_table(TableSpec(spec.commits, None), work_dir)[0] if spec.files is not None else None
    building = work_dir / f"{spec.key}.building"
    shutil.rmtree(building, ignore_errors=True)
    building.parent.mkdir(parents=True, exist_ok=True)
    log(f"building {spec.key} ({spec.commits:,} commits, {spec.data_files:,} data files)")
    start = time.perf_counter()
    if few is None:
        _build_few(spec, building)
    else:
        _build_bulk(spec, building, few, work_dir)
    check = DeltaTable(str(building))
    assert check.version() == spec.expected and check.transaction_version(APP_ID) == spec.expected
    assert len(check.file_uris()) == spec.data_files, (len(check.file_uris()), spec.data_files)
    building.rename(path)
    seconds = time.perf_counter() - start
    log(f"built {spec.key} in {seconds:.1f} s")
    return path, seconds


def ensure_sinks(table: Path, count: int = SINKS) -> tuple[list[Path], float]:
    """``count`` copies of ``table`` (see the module docstring for what is copied and what is
    hard-linked) and the seconds the copies took (0 if cached)."""
    folder = table.parent / f"{table.name}.sinks{count}"
    sinks = [folder / f"sink-{k}" for k in range(count)]
    if folder.is_dir():
        return sinks, 0.0
    start = time.perf_counter()
    building = table.parent / f"{folder.name}.building"
    shutil.rmtree(building, ignore_errors=True)
    names = os.listdir(table / "_delta_log")
    checkpoints = sorted(n for n in names if _CHECKPOINT.match(n))
    older = set(checkpoints[:-1])  # never opened by a contender: hard-linked
    data = [n for n in os.listdir(table) if n != "_delta_log"]
    for k in range(count):
        sink = building / f"sink-{k}"
        (sink / "_delta_log").mkdir(parents=True)
        for name in data:
            os.link(table / name, sink / name)
        for name in names:
            source, target = table / "_delta_log" / name, sink / "_delta_log" / name
            if name in older:
                os.link(source, target)
            else:
                shutil.copy2(source, target)
        log(f"  {folder.name}: sink {k + 1}/{count} ({time.perf_counter() - start:.1f} s)")
    building.rename(folder)
    return sinks, time.perf_counter() - start


def tree_size(path: Path) -> tuple[int, int]:
    """(files, bytes) under ``path``; a hard-linked file counts in every folder it is linked into."""
    files = size = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            files += 1
            size += os.lstat(os.path.join(root, name)).st_size
    return files, size


# --------------------------------------------------------------------------------------------
# Measurements


@dataclass
class Timings:
    per_table_ms: list[float]
    per_8_ms: list[float]
    first_ms: float  # the untimed, asserting pass before the timed rounds (``warmup_sinks`` sinks)
    first_check_ms: float = 0.0  # its first check alone


def measure(
    check: Callable[[str], int | None],
    sinks: Sequence[Path],
    expected: int,
    repeat: int,
    *,
    before: Callable[[str], None] | None = None,
    warmup_sinks: int | None = None,
) -> Timings:
    """Time ``check`` on each sink, ``repeat`` rounds; ``before(path)`` runs untimed before each check."""
    paths = [str(p) for p in sinks]
    start = time.perf_counter()
    first_check = 0.0
    for n, path in enumerate(paths[:warmup_sinks]):
        if before is not None:
            before(path)
        got = check(path)
        if n == 0:
            first_check = (time.perf_counter() - start) * 1000
        assert got == expected, (path, got, expected)
    first = (time.perf_counter() - start) * 1000
    per_table: list[float] = []
    per_8: list[float] = []
    for _ in range(repeat):
        total = 0.0
        for path in paths:
            if before is not None:
                before(path)
            t = time.perf_counter()
            got = check(path)
            elapsed = (time.perf_counter() - t) * 1000
            assert got == expected, (path, got, expected)
            per_table.append(elapsed)
            total += elapsed
        per_8.append(total)
    return Timings(per_table, per_8, first, first_check)


def measure_sensor(sinks: Sequence[Path], expected: int, repeat: int) -> Timings:
    """Per table: ``sink_status()``; per 8 sinks: ``lagging()``, the sensor's and trigger's call."""

    def one(path: str) -> int | None:
        return sink_status("events", path, path, APP_ID).txn_version

    watched = [WatchedSink(f"sink-{k}", str(p), APP_ID, expected) for k, p in enumerate(sinks)]
    start = time.perf_counter()
    assert lagging(watched) == []
    first = (time.perf_counter() - start) * 1000
    behind = [WatchedSink(w.sink, w.path, w.txn_app_id, expected + 1) for w in watched]
    assert len(lagging(behind)) == len(watched)  # the check does see a sink that is behind
    timings = measure(one, sinks, expected, repeat)
    per_8 = []
    for _ in range(repeat):
        t = time.perf_counter()
        result = lagging(watched)
        per_8.append((time.perf_counter() - t) * 1000)
        assert result == []
    return Timings(timings.per_table_ms, per_8, first)


def deltalake_check(path: str) -> int | None:
    return DeltaTable(path).transaction_version(APP_ID)


def start_spark() -> Any:
    """A local SparkSession with Delta from the project's resolved jars (like the tests' one)."""
    from airflow_fanout.driver.session import require_delta

    spark = local_delta_session(
        "status-check-bench",
        {
            "spark.sql.shuffle.partitions": "2",
            SNAPSHOT_PARTITIONS: "2",
            "spark.default.parallelism": "2",
            "spark.driver.memory": "2g",
        },
    )
    require_delta(spark)
    return spark


class SparkChecks:
    """Txn lookups through Delta's own ``DeltaLog`` (py4j), in a running session."""

    def __init__(self, spark: Any) -> None:
        self.spark = spark
        self.delta_log = spark.sparkContext._jvm.org.apache.spark.sql.delta.DeltaLog

    def txn_version(self, path: str) -> int | None:
        delta_log = self.delta_log.forTable(self.spark._jsparkSession, path)
        # update(stalenessAcceptable = false, checkIfUpdatedSinceTs = None, catalogTableOpt = None)
        snapshot = delta_log.update(
            False, getattr(delta_log, "update$default$2")(), getattr(delta_log, "update$default$3")()
        )
        found = snapshot.transactions().get(APP_ID)
        return int(found.get()) if found.isDefined() else None

    def invalidate(self, path: str) -> None:
        """Drop ``path``'s DeltaLog (and its snapshot) from Delta's cache."""
        jvm = self.spark.sparkContext._jvm
        self.delta_log.invalidateCache(self.spark._jsparkSession, jvm.org.apache.hadoop.fs.Path(path))

    def history_version(self, path: str) -> int:
        return int(self.spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").collect()[0]["version"])


def startup_probe(path: str) -> None:
    """Child process: seconds to a ready session, then to the first txn check in that cold JVM."""
    start = time.perf_counter()
    spark = start_spark()
    ready = time.perf_counter()
    got = SparkChecks(spark).txn_version(path)
    done = time.perf_counter()
    spark.stop()
    print(json.dumps({"session_ready_s": ready - start, "first_check_s": done - ready, "txn_version": got}))


# --------------------------------------------------------------------------------------------
# Report


def row(
    spec: TableSpec, contender: str, timings: Timings, first_key: str | None = "first_8_sinks_ms"
) -> dict[str, Any]:
    """One results row; ``first_key`` names the untimed first pass (None: there was none)."""
    out = {
        "commits": spec.commits,
        "files": spec.label,
        "data_files": spec.data_files,
        "contender": contender,
        "txn_version": spec.expected,
        "per_8_sinks_ms": summarize(timings.per_8_ms),
        "per_table_ms": summarize(timings.per_table_ms),
    }
    if first_key is not None:
        out[first_key] = round(timings.first_ms, 3)
    return out


def print_table(rows: Sequence[dict[str, Any]]) -> None:
    from airflow_fanout.status import format_table

    lines = [["commits", "files", "contender", "per table min", "per table median", "8 sinks min", "8 sinks median"]]
    for r in rows:
        if "per_8_sinks_ms" not in r:
            continue
        lines.append(
            [
                f"{r['commits']:,}",
                f"{r['data_files']:,}",
                r["contender"],
                f"{r['per_table_ms']['min']:.2f} ms",
                f"{r['per_table_ms']['median']:.2f} ms",
                f"{r['per_8_sinks_ms']['min']:.2f} ms",
                f"{r['per_8_sinks_ms']['median']:.2f} ms",
            ]
        )
    print(format_table(lines), flush=True)


def targets(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sensor path against its targets, at the largest table measured ("met" on medians; the
    mins are there too, as they suffer least from other load on the machine)."""
    sensor = [r for r in rows if r.get("contender") == SENSOR]
    if not sensor:
        return []
    top = max(sensor, key=lambda r: (r["data_files"], r["commits"]))
    deltalake = next(
        (
            r
            for r in rows
            if r.get("contender") == DELTALAKE
            and (r["commits"], r["data_files"]) == (top["commits"], top["data_files"])
        ),
        None,
    )
    return sensor_targets(
        top, deltalake, per_table_ms=TARGET_PER_TABLE_MS, speedup=TARGET_SPEEDUP, speedup_key="per_8_sinks_ms"
    )


def sensor_targets(
    top: Mapping[str, Any],
    deltalake: Mapping[str, Any] | None,
    *,
    per_table_ms: float,
    speedup: float,
    speedup_key: str,
    where: str = "",
    extra: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The target rows of the sensor path's result ``top``: its median per table under
    ``per_table_ms``, and (given deltalake's result at the same size) ``speedup`` times
    faster, on the medians of ``speedup_key``. ``where`` ends each target's name (" on S3");
    ``extra`` goes into each row."""
    out: list[dict[str, Any]] = [
        {
            "target": f"sensor path < {per_table_ms:g} ms per table{where}",
            "commits": top["commits"],
            "data_files": top["data_files"],
            "value_ms": top["per_table_ms"]["median"],
            "value_ms_min": top["per_table_ms"]["min"],
            "met": top["per_table_ms"]["median"] < per_table_ms,
            **(extra or {}),
        }
    ]
    if deltalake is not None:
        ratio = deltalake[speedup_key]["median"] / top[speedup_key]["median"]
        ratio_of_mins = deltalake[speedup_key]["min"] / top[speedup_key]["min"]
        out.append(
            {
                "target": f"sensor path >= {speedup:g}x faster than deltalake{where}",
                "commits": top["commits"],
                "data_files": top["data_files"],
                "speedup": round(ratio, 1),
                "speedup_of_mins": round(ratio_of_mins, 1),
                "met": ratio >= speedup,
                **(extra or {}),
            }
        )
    return out


def plot(rows: Sequence[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = [r for r in rows if "per_8_sinks_ms" in r]
    variants = sorted({(r["files"], r["files"] == "few") for r in measured}, key=lambda v: (not v[1], len(v[0]), v[0]))
    startup = next((r for r in rows if r.get("contender") == SPARK_STARTUP), None)
    contenders = list(dict.fromkeys(r["contender"] for r in measured))
    markers = dict(zip(contenders, "osD^v<>p", strict=False))
    fig, axes = plt.subplots(1, len(variants), figsize=(5.5 * len(variants), 4.8), sharey=True, squeeze=False)
    for ax, (variant, _few) in zip(axes[0], variants, strict=True):
        for contender in contenders:
            points = sorted(
                (r["commits"], r["per_8_sinks_ms"]["median"], r["per_8_sinks_ms"]["min"])
                for r in measured
                if r["contender"] == contender and r["files"] == variant
            )
            if points:
                xs = [p[0] for p in points]
                ax.plot(xs, [p[1] for p in points], marker=markers[contender], label=f"{contender} (median)")
                ax.scatter(xs, [p[2] for p in points], marker=markers[contender], s=12, color="grey")
        ax.axhline(TARGET_PER_TABLE_MS * SINKS, color="green", linestyle=":", label="target: 20 ms/table x 8")
        if startup is not None:
            ax.axhline(
                startup["session_ready_s"]["median"] * 1000, color="red", linestyle="--", label="JVM + session start"
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("commits in the log")
        title = "one small file per commit" if variant == "few" else f"{variant} data files"
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel(f"one status check of {SINKS} sinks, ms (log)")
    save_figure(fig, axes[0], f"Workload B: watching commits, {SINKS} sinks (grey dots: min)", path)


def save_figure(fig: Any, axes: Sequence[Any], title: str, path: Path) -> None:
    """One legend below the panels (each label once), the title, saved to ``path`` and closed."""
    import matplotlib.pyplot as plt

    handles: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.05 * ((len(handles) + 2) // 3), 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# Main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, no Spark contenders (< ~30 s)")
    parser.add_argument("--commits", type=int, nargs="+", help="commit counts (default 10 1000 10000)")
    parser.add_argument("--files", nargs="+", help="file variants: few, 10k, 100k, ... (default few 100k)")
    parser.add_argument("--repeat", type=int, help="rounds of the fast contenders (default 7, quick 5)")
    parser.add_argument("--spark-repeat", type=int, help="rounds of the Spark contenders (default 3, quick 1)")
    parser.add_argument("--spark-commits", type=int, nargs="*", help="commit counts Spark runs at (default all)")
    parser.add_argument("--spark-files", nargs="*", help="file variants Spark runs at (default all)")
    parser.add_argument("--no-spark", action="store_true", help="skip the Spark contenders and start-up")
    parser.add_argument("--startup-repeat", type=int, help="JVM start-ups measured (default 3, quick 1)")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="where built tables are cached")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument(
        "--results-name", help="results file name (default status_check, or status_check-quick with --quick)"
    )
    parser.add_argument("--startup-probe", metavar="TABLE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = args.quick
    # Spark's side (a JVM start, DESCRIBE HISTORY) is the slow part and no target: full runs only.
    args.no_spark = args.no_spark or quick
    args.commits = args.commits or ([10, 1000] if quick else [10, 1000, 10000])
    args.files = [parse_files(f) for f in (args.files or (["few", "10k"] if quick else ["few", "100k"]))]
    args.repeat = args.repeat or (5 if quick else 7)
    args.spark_repeat = args.spark_repeat or (1 if quick else 3)
    if args.spark_commits is None:
        args.spark_commits = [1000] if quick else args.commits
    args.spark_files = (
        [parse_files(f) for f in args.spark_files]
        if args.spark_files is not None
        else ([None] if quick else args.files)
    )
    args.startup_repeat = args.startup_repeat or (1 if quick else 3)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.startup_probe:
        startup_probe(args.startup_probe)
        return
    began = time.perf_counter()
    work_dir: Path = args.work_dir
    specs = []
    for commits in args.commits:
        for files in args.files:
            spec = TableSpec(commits, files)
            if files is not None and spec.bulk_files < 2:
                log(f"skipping {commits:,} commits x {files_label(files)} files: no more files than commits")
                continue
            specs.append(spec)

    builds: list[dict[str, Any]] = []
    sinks: dict[TableSpec, list[Path]] = {}
    for spec in specs:
        table, build_s = ensure_table(spec, work_dir)
        sinks[spec], copy_s = ensure_sinks(table)
        files, size = tree_size(table / "_delta_log")
        builds.append(
            {
                "table": spec.key,
                "build_s": round(build_s, 1),
                "sink_copies_s": round(copy_s, 1),
                "log_files": files,
                "log_mib": round(size / 2**20, 1),
                "cached": build_s == 0.0,
            }
        )

    rows: list[dict[str, Any]] = []
    for spec in specs:
        log(f"measuring {spec.commits:,} commits, {spec.data_files:,} data files, {SINKS} sinks")
        sensor = measure_sensor(sinks[spec], spec.expected, args.repeat)
        rows.append(row(spec, SENSOR, sensor))
        reference = measure(deltalake_check, sinks[spec], spec.expected, args.repeat)
        rows.append(row(spec, DELTALAKE, reference))
        speedup = statistics.median(reference.per_8_ms) / statistics.median(sensor.per_8_ms)
        rows[-2]["deltalake_over_sensor"] = round(speedup, 1)

    spark_specs = [s for s in specs if s.commits in args.spark_commits and s.files in args.spark_files]
    if not args.no_spark and spark_specs:
        rows += spark_rows(spark_specs, sinks, args.spark_repeat, args.startup_repeat)

    print_table(rows)
    checks = targets(rows)
    for check in checks:
        print(json.dumps(check))
    name = args.results_name or (f"{NAME}-quick" if args.quick else NAME)
    load = os.getloadavg()
    params = {
        "commits": args.commits,
        "files": ["few" if f is None else files_label(f) for f in args.files],
        "sinks": SINKS,
        "repeat": args.repeat,
        "spark_repeat": args.spark_repeat,
        "spark_tables": [s.key for s in spark_specs] if not args.no_spark else [],
        "startup_repeat": args.startup_repeat,
        "checkpoint_interval": CHECKPOINT_INTERVAL,
        "app_id": APP_ID,
        "recipe": RECIPE,
        "work_dir": str(work_dir),
        "builds": builds,
        "load_average_at_end": [round(x, 2) for x in load],
        "wall_s": round(time.perf_counter() - began, 1),
    }
    path = write_results(name, params, [*rows, *checks])
    log(f"wrote {path.relative_to(ROOT)}")
    if not args.no_plot:
        png = PLOTS_DIR / f"{name}.png"
        plot(rows, png)
        log(f"wrote {png.relative_to(ROOT)}")
    log(f"done in {time.perf_counter() - began:.1f} s (load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})")


def spark_rows(
    specs: Sequence[TableSpec], sinks: dict[TableSpec, list[Path]], repeat: int, startup_repeat: int
) -> list[dict[str, Any]]:
    """The Spark contenders in one running session, then the JVM start-up in child processes."""
    rows: list[dict[str, Any]] = []
    log("starting a SparkSession with Delta")
    start = time.perf_counter()
    spark = start_spark()
    ready = [time.perf_counter() - start]
    checks = SparkChecks(spark)
    first_check: list[float] = []
    try:
        for n, spec in enumerate(specs):
            log(f"spark: {spec.commits:,} commits, {spec.data_files:,} data files, {SINKS} sinks")
            # Cache invalidated first (one untimed check: the run's first is in a cold JVM); each
            # of its checks leaves that table's fresh DeltaLog cached, so the cached rounds after it
            # need no warm-up (no 8 more snapshot rebuilds).
            cleared = measure(
                checks.txn_version, sinks[spec], spec.expected, repeat, before=checks.invalidate, warmup_sinks=1
            )
            if n == 0:
                first_check.append(cleared.first_check_ms / 1000)
            rows.append(row(spec, SPARK_CLEARED, cleared, "first_check_ms"))
            cached = measure(checks.txn_version, sinks[spec], spec.expected, repeat, warmup_sinks=0)
            rows.append(row(spec, SPARK_CACHED, cached, None))
            history = measure(checks.history_version, sinks[spec], spec.expected, repeat, warmup_sinks=1)
            rows.append(row(spec, SPARK_HISTORY, history, "first_check_ms"))
    finally:
        spark.stop()
    walls: list[float] = []
    peaks: list[float] = []
    for k in range(startup_repeat - 1):
        log(f"spark start-up in a child process {k + 1}/{startup_repeat - 1}")
        probe = run_process(
            [sys.executable, "-m", "benchmarks.status_check", "--startup-probe", str(sinks[specs[0]][0])],
            env=spark_env(),
            cwd=ROOT,
        )
        result = json.loads(probe.stdout.strip().splitlines()[-1])
        assert result["txn_version"] == specs[0].expected, result
        ready.append(result["session_ready_s"])
        first_check.append(result["first_check_s"])
        walls.append(probe.wall_s)
        peaks.append(probe.peak_rss_bytes / 2**20)
    startup: dict[str, Any] = {
        "contender": SPARK_STARTUP,
        "session_ready_s": summarize(ready),
        "first_check_s": summarize(first_check),
        "first_check_table": specs[0].key,
        "note": "runs[0] in this process, the others in fresh child processes",
    }
    if walls:
        startup["child_process_wall_s"] = summarize(walls)
        startup["child_peak_rss_mib"] = summarize(peaks, 0)
    rows.append(startup)
    return rows


if __name__ == "__main__":
    main()
