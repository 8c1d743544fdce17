"""Contender ``sdp``: workload A as an Apache Spark Declarative Pipeline, run with the
``spark-pipelines`` CLI of the pyspark wheel (pyspark 4.2.0).

**How it runs.** One project per run folder (:mod:`benchmarks.sdp.project`), then::

    SPARK_CONF_DIR=<root>/conf  <pyspark>/bin/spark-pipelines --remote local[2] \\
        run --spec <root>/project/spark-pipeline.yml          (cwd: <root>)

``spark-pipelines`` is ``spark-submit`` with a fixed Python main (``pyspark/pipelines/cli.py``)
and forces Spark Connect: the first JVM only hosts that Python client; the client then starts a
*second* JVM through another spark-submit, the local Spark Connect server, which does all the
work. ``--remote local[2]`` gives that server two cores like every other contender (without it,
``local``: one core). All confs go through ``spark-defaults.conf`` in ``SPARK_CONF_DIR``, not
``--conf`` (pyspark 4.2 drops all but the last ten ``--conf`` values on their way to the second
JVM; see :func:`benchmarks.sdp.project.write_spark_defaults`).

Catalog and format: the session catalog backed by an embedded Hive metastore (Derby, one per run
folder, ``spark.sql.catalogImplementation=hive``), Delta's catalog and SQL extension, and
``spark.sql.sources.default=delta``: every table is a managed **Delta** table at
``<lake>/<name>`` (the warehouse), checked with delta-rs like the other contenders'. The
metastore is what lets the second run be incremental: SDP finds its tables there and only adds
to them; the streaming checkpoints live under the spec's ``storage``. (With the in-memory
catalog the second run fails: SDP creates the tables again, and Delta refuses a new table at a
non-empty location, ``DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION``.)

**The pipeline.** ``bronze`` and the four routes plus ``other`` are streaming tables, each fed by
its own streaming flow over the landing folder (SDP has no "read once, write many" flow: K
streaming tables are K streaming queries, each listing and parsing every new file, like
``k_streams``). ``routes_from="bronze"`` makes the routes read the ``bronze`` table's Delta
stream instead (JSON parsed once, but the routes wait for ``bronze`` and read it back).
Flows run concurrently (the pipeline orders them by their dependencies only).

**Limitations, honestly.**

- *No MERGE.* ``events_dedup`` is a streaming table with ``dropDuplicates(["event_id"])``: each
  new id is appended once, the ids seen so far are kept in the flow's streaming state (RocksDB
  here) in the checkpoint, forever, since there is no watermark (``dropDuplicatesWithinWatermark``
  would bound the state but let a late re-send through). The table holds what the MERGE's holds
  (one row per id, duplicates are exact copies) but it is not a MERGE: a changed row for a known
  id would be dropped, not update the table. SDP's MERGE-like flow, ``create_auto_cdc_flow``
  (SCD type 1), exists in the 4.2 API but fails on Delta: ``AUTOCDC_TARGET_DOES_NOT_SUPPORT_MERGE``
  (it needs a DSv2 table with row-level operations; Delta implements MERGE its own way).
- *The aggregate is recomputed in full every run.* ``hourly_by_country`` is a materialized
  view over ``bronze``; SDP in Apache Spark refreshes a materialized view by TRUNCATE + a write of
  the whole query result (no incremental refresh), so the incremental run re-reads all of
  ``bronze``. A streaming aggregate would need a watermark and would not emit open windows.
- *Each streaming table is altered every run* (a ``SET TBLPROPERTIES`` commit per table), and
  a ``format="delta"`` in a definition fails the second run (``DELTA_CANNOT_CHANGE_PROVIDER``):
  SDP re-sets the reserved ``provider`` property. Hence ``spark.sql.sources.default=delta``.
- *Two JVMs.* Peak RSS from :func:`benchmarks.common.run_process` is the largest single process
  of the tree: the Connect server JVM; the launcher JVM (mostly idle) comes on top.
- Spark Connect analyses the input of ``dropDuplicates(subset)`` as the flow is registered,
  before pipeline datasets exist, so the dedupe must read the landing folder itself, not a
  pipeline view or table (``TABLE_OR_VIEW_NOT_FOUND``).

**Use from the runner** (the runner lands files between the two runs)::

    run = SdpRun(root=dirs.root / "sdp", landing=dirs.landing, lake=dirs.lake, storage=dirs.checkpoint, k=k)
    inv = run.invocation(confs)                 # confs: the ones every contender gets
    measured = run_process(inv.command, env=inv.env, cwd=inv.cwd)   # first, then incremental

or :func:`run_sdp` (first run, ``land_increment()``, incremental run). Standalone, tiny::

    .venv/bin/python -m benchmarks.fanout_sdp --rows 20000 --k 1 8
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_fanout.delta_packages import JARS_DIR_ENV, delta_spark_confs
from airflow_fanout.spark_install import spark_home
from airflow_fanout.submit import run_confs
from benchmarks.common import ROOT, ProcessRun, run_process, spark_env
from benchmarks.fanout_workload import DEFAULT_SEED, MAX_K, check_tables, expected_stats, generate
from benchmarks.sdp.project import (
    TRANSFORMATIONS_DIR,
    RoutesFrom,
    definitions_source,
    sdp_confs,
    spec_source,
    write_spark_defaults,
)

MASTER = "local[2]"
CONTENDER = "sdp"
TABLE_FORMAT = "delta"
PHASES = ("first", "incremental")


def spark_pipelines_binary() -> str:
    return str(Path(spark_home()) / "bin" / "spark-pipelines")


def default_confs(driver_memory: str | None = None) -> dict[str, str]:
    """What every contender runs with (the driver's local defaults, Delta, UTC), for a run
    without the benchmark runner's confs."""
    jars_dir = os.environ.get(JARS_DIR_ENV) or str(ROOT / ".ivy" / "jars")
    confs = run_confs(MASTER, delta=False, extra={"spark.sql.session.timeZone": "UTC"})
    confs.update(delta_spark_confs(jars_dir=jars_dir))
    if driver_memory:
        confs["spark.driver.memory"] = driver_memory
    return confs


@dataclass(frozen=True)
class Invocation:
    """One ``spark-pipelines run``: what :func:`benchmarks.common.run_process` needs."""

    command: list[str]
    env: dict[str, str]
    cwd: Path


@dataclass(frozen=True)
class SdpRun:
    """One pipeline and its state across runs: ``root`` holds the project, its ``spark-defaults``
    and the metastore; tables go to ``lake``, streaming checkpoints to ``storage``."""

    root: Path
    landing: Path
    lake: Path
    k: int
    storage: Path | None = None
    routes_from: RoutesFrom = "landing"

    @property
    def project(self) -> Path:
        return self.root / "project"

    @property
    def spec_path(self) -> Path:
        return self.project / "spark-pipeline.yml"

    @property
    def storage_dir(self) -> Path:
        return self.storage if self.storage is not None else self.root / "storage"

    @property
    def metastore(self) -> Path:
        return self.root / "metastore_db"

    @property
    def conf_dir(self) -> Path:
        return self.root / "conf"

    def write_project(self) -> Path:
        """(Re)write the spec and the definitions; returns the spec's path."""
        if not 1 <= self.k <= MAX_K:
            raise ValueError(f"k must be in 1..{MAX_K}, got {self.k}")
        definitions = self.project / TRANSFORMATIONS_DIR / f"fanout_k{self.k}.py"
        definitions.parent.mkdir(parents=True, exist_ok=True)
        for stale in definitions.parent.glob("*.py"):
            stale.unlink()
        definitions.write_text(definitions_source(self.k, self.landing.resolve(), self.routes_from), encoding="utf-8")
        self.spec_path.write_text(spec_source(self.storage_dir), encoding="utf-8")
        return self.spec_path

    def confs(self, base: Mapping[str, str]) -> dict[str, str]:
        """``base`` (the confs every contender gets) plus SDP's own; ``--remote`` sets the master."""
        confs = {k: v for k, v in base.items() if k not in ("spark.master", "spark.remote", "spark.api.mode")}
        confs.update(sdp_confs(self.lake, self.metastore))
        return confs

    def invocation(self, base_confs: Mapping[str, str] | None = None) -> Invocation:
        """Write the project and its ``spark-defaults.conf``; the command that runs it once.
        Call it before each run: the confs (an event-log folder per run, say) may change."""
        self.lake.mkdir(parents=True, exist_ok=True)
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        spec = self.write_project()
        write_spark_defaults(self.conf_dir, self.confs(base_confs if base_confs is not None else default_confs()))
        env = spark_env({"SPARK_CONF_DIR": str(self.conf_dir.resolve())})
        env.pop("PYSPARK_SUBMIT_ARGS", None)
        command = [spark_pipelines_binary(), "--remote", MASTER, "run", "--spec", str(spec.resolve())]
        return Invocation(command, env, self.root)

    def run(self, base_confs: Mapping[str, str] | None = None, *, phase: str = "run", check: bool = True) -> ProcessRun:
        """One ``spark-pipelines run``, timed, with the peak RSS of its process tree; its output
        is kept in ``<root>/logs/<phase>.{out,err}`` (the pipeline's progress is in ``.out``)."""
        inv = self.invocation(base_confs)
        run = run_process(inv.command, env=inv.env, cwd=inv.cwd, check=False)
        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        (logs / f"{phase}.out").write_text(run.stdout, encoding="utf-8")
        (logs / f"{phase}.err").write_text(run.stderr, encoding="utf-8")
        if check and (run.returncode != 0 or "Run is COMPLETED" not in run.stdout):
            raise RuntimeError(f"spark-pipelines exited {run.returncode}:\n{_tail(run)}")
        return run


def _tail(run: ProcessRun, lines: int = 40) -> str:
    """The pipeline's own event lines and the error, without the JVM stack frames."""
    text = [ln for ln in (run.stdout + run.stderr).splitlines() if not ln.lstrip().startswith("at ")]
    return "\n".join(text[-lines:])


def measurement(run: ProcessRun) -> dict[str, Any]:
    return {"wall_s": round(run.wall_s, 2), "peak_rss_mb": round(run.peak_rss_bytes / 2**20, 1)}


def run_sdp(
    work_dir: Path,
    landing: Path,
    k: int,
    *,
    land_increment: Callable[[], object] | None = None,
    lake: Path | None = None,
    base_confs: Mapping[str, str] | None = None,
    routes_from: RoutesFrom = "landing",
    after_run: Callable[[str, SdpRun], object] | None = None,
) -> dict[str, Any]:
    """The ``first`` run over what is in ``landing``, then ``land_increment()`` (the caller
    lands the new files), then the ``incremental`` run, in a fresh ``work_dir``. Returns
    ``{"first": {"wall_s", "peak_rss_mb"}, "incremental": {...}, "lake", "format", "command"}``;
    ``after_run(phase, run)`` is called after each run (to check the tables, say)."""
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    sdp = SdpRun(root=work_dir, landing=landing, lake=lake or work_dir / "lake", k=k, routes_from=routes_from)
    out: dict[str, Any] = {"lake": str(sdp.lake), "format": TABLE_FORMAT, "k": k, "routes_from": routes_from}
    for phase in PHASES:
        if phase == "incremental" and land_increment is not None:
            land_increment()
        out[phase] = measurement(sdp.run(base_confs, phase=phase))
        if after_run is not None:
            after_run(phase, sdp)
    out["command"] = sdp.invocation(base_confs).command
    return out


# -- standalone: tiny data, both runs, tables checked ---------------------------------------------
def _land(files: Sequence[Path], landing: Path) -> None:
    landing.mkdir(parents=True, exist_ok=True)
    for path in files:
        os.link(path, landing / path.name)


def _standalone_k(
    work_dir: Path,
    k: int,
    first: Sequence[Path],
    increment: Sequence[Path],
    rows: int,
    increment_rows: int,
    confs: Mapping[str, str],
    routes_from: RoutesFrom,
    seed: int,
) -> dict[str, Any]:
    """Both runs for one K in fresh folders, each followed by a check of the tables."""
    landing = work_dir / f"landing-k{k}"
    shutil.rmtree(landing, ignore_errors=True)
    _land(first, landing)
    totals = {"first": rows, "incremental": rows + increment_rows}
    problems: dict[str, list[str]] = {}

    def check(phase: str, sdp: SdpRun) -> None:
        problems[phase] = check_tables(sdp.lake, k, expected_stats(totals[phase], seed))

    started = time.perf_counter()
    result = run_sdp(
        work_dir / f"k{k}",
        landing,
        k,
        land_increment=functools.partial(_land, increment, landing),
        base_confs=confs,
        routes_from=routes_from,
        after_run=check,
    )
    result.update(problems=problems, rows=totals)
    first_run, incremental_run = result["first"], result["incremental"]
    print(
        f"sdp k={k}: first {first_run['wall_s']:.1f}s {first_run['peak_rss_mb']:.0f}MB, "
        f"incremental {incremental_run['wall_s']:.1f}s {incremental_run['peak_rss_mb']:.0f}MB "
        f"({time.perf_counter() - started:.0f}s in all); tables "
        + ("OK" if not any(problems.values()) else f"WRONG: {problems}"),
        flush=True,
    )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000, help="rows of the first set (default 20000)")
    parser.add_argument("--k", type=int, nargs="+", default=[8], choices=range(1, MAX_K + 1))
    parser.add_argument("--files", type=int, default=4, help="files of the first set")
    parser.add_argument("--routes-from", choices=["landing", "bronze"], default="landing")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/fanout-sdp"))
    parser.add_argument("--driver-memory")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)

    increment_rows = max(1, args.rows // 10)
    data = args.work_dir / "data"
    shutil.rmtree(data, ignore_errors=True)
    first = generate(data / "first", args.rows, files=args.files, seed=args.seed)
    increment = generate(data / "increment", increment_rows, files=2, seed=args.seed, start_index=args.rows)
    confs = default_confs(args.driver_memory)
    results = [
        _standalone_k(args.work_dir, k, first, increment, args.rows, increment_rows, confs, args.routes_from, args.seed)
        for k in args.k
    ]
    failed = any(problems for r in results for problems in r["problems"].values())
    print(json.dumps(results, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
