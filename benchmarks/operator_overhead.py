"""Workload C (operator overhead): what ``FanOutSubmitOperator`` adds on top of a bare ``spark-submit``
of the same driver with the same confs.

One trivial spec (a JSON source of 20 rows, one batch slice, one small Delta append sink) runs

1. as a bare ``spark-submit`` (``airflow_fanout.submit.submit_command``, timed around the process);
2. through ``FanOutSubmitOperator`` in a one-task DAG run with ``dag.test()``, in a child process
   with its own temporary ``AIRFLOW_HOME`` (SQLite, migrated once; nothing leaks into the caller's
   environment). The child first runs a no-op task so that ``dag.test()``'s in-process execution
   API is warm (its first request costs seconds, inside the task's start/end; a worker talks to a
   running API server; ``--cold-api`` skips this), then times the task instance (its start/end in
   the metadata DB), ``operator.execute``, the spark-submit inside the provider's hook, the whole
   ``dag.test()`` and each piece around the wait (spec validation, rendering, secrets masking, the
   ``--py-files`` zip, the hook and its command line, the log relay, reading the report, XCom push,
   listeners/OpenLineage, outlets) with timers wrapped around those functions;
3. (full mode) bare ``spark-submit`` with the operator's own command (``--py-files``, ``--name``),
   which splits a difference into "the command" and "the Airflow process".

The contenders take turns (each one first in turn) and every run writes fresh output folders.
The target is ``task duration - bare spark-submit < 0.3 s``. Run-to-run Spark noise on 2 cores is
about a second, so the cross-process differences are reported with every run, next to what does
not suffer from it: the task minus its own spark-submit (same run), and each spark-submit process
tree's CPU seconds. The driver JVM gets ``-XX:TieredStopAtLevel=1 -XX:+UseSerialGC`` on both sides
(``--default-jvm`` to leave them out).

    python -m benchmarks.operator_overhead [--quick] [--repeat N] [--work-dir DIR] [--profile]
        [--openlineage] [--[no-]hook-command] [--cold-api] [--default-jvm] [--no-plot]

Writes ``benchmarks/results/operator_overhead[-quick][-openlineage][-cold-api][-default-jvm].json``
and a ``.png`` next to it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow_fanout.submit import SHORT_RUN_JVM_CONFS
from benchmarks.common import PLOTS_DIR, ROOT, run_process, spark_env, summarize, write_results

NAME = "operator_overhead"
TARGET_S = 0.3
MASTER = "local[2]"
#: Given to both contenders (the operator's ``conf=``, ``submit_command(confs=...)``). The driver
#: JVM runs with the C1 JIT only and the serial GC: a trivial job then costs ~15 s instead of
#: ~23 s of CPU on 2 cores (less noise, same on both sides); ``--default-jvm`` leaves them out.
EXTRA_CONFS = {"spark.ui.enabled": "false"}
DAG_ID = "fanout_operator_overhead"
WARMUP_DAG_ID = "fanout_operator_overhead_warmup"
TASK_ID = "fan_out"
SPEC_ENV = "FANOUT_BENCH_SPEC"
CONF_ENV = "FANOUT_BENCH_CONF"
ROWS = 20

DAG_FILE = f'''"""The DAGs of benchmarks/operator_overhead.py: the operator (spec and confs from ${SPEC_ENV} and
${CONF_ENV}) and a no-op task that warms dag.test()'s in-process execution API up."""

import json
import os
from datetime import datetime

from airflow.sdk import DAG, task

from airflow_fanout.operators.fanout import FanOutSubmitOperator

with open(os.environ["{SPEC_ENV}"], encoding="utf-8") as fh:
    SPEC = json.load(fh)
CONF = json.loads(os.environ["{CONF_ENV}"])

with DAG(dag_id="{DAG_ID}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    FanOutSubmitOperator(task_id="{TASK_ID}", spec=SPEC, conf=CONF)

with DAG(dag_id="{WARMUP_DAG_ID}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as warmup:

    @task
    def noop() -> dict:
        return {{"status": "succeeded"}}

    noop()
'''

# ----------------------------------------------------------------------------------------------
# The child: one dag.test() run with timers around the operator's pieces.
# ----------------------------------------------------------------------------------------------

API_APP = "dag.test: build the in-process execution API"
API_START = "runner: TI start call"
#: (dotted module, attribute path, label): functions wrapped with a timer in the child. Module
#: functions are patched where they are looked up (the module that calls them). Labels from
#: ``task run`` on count only inside the task run (the DAG file is parsed twice before it, and the
#: operator validates its static spec at each parse).
TIMED: tuple[tuple[str, str, str], ...] = (
    ("airflow.dag_processing.dagbag", "BundleDagBag.__init__", "dag.test: parse the DAG folder again"),
    ("airflow.dag_processing.dagbag", "sync_bag_to_db", "dag.test: serialize the DAG to the DB"),
    ("airflow.sdk.definitions.dag", "_run_task", "task run (dag.test's _run_task)"),
    ("airflow.sdk.execution_time.supervisor", "InProcessTestSupervisor._api_client", API_APP),
    ("airflow.sdk.api.client", "TaskInstanceOperations.start", API_START),
    ("airflow.sdk.execution_time.supervisor", "InProcessTestSupervisor._Client.request", "runner: execution API calls"),
    ("airflow.sdk.execution_time.task_runner", "_prepare", "runner: prepare (render templates, listeners)"),
    ("airflow.sdk.execution_time.task_runner", "_execute_task", "runner: execute callable"),
    ("airflow.sdk.execution_time.task_runner", "_push_xcom_if_needed", "runner: XCom push"),
    ("airflow.sdk.execution_time.task_runner", "_serialize_rendered_fields", "runner: store rendered fields"),
    ("airflow.sdk.execution_time.task_runner", "_handle_current_task_success", "runner: success + outlets"),
    ("airflow.sdk.execution_time.task_runner", "finalize", "runner: finalize (listeners, OpenLineage)"),
    ("airflow_fanout.operators.fanout", "FanOutSubmitOperator.render_template_fields", "op: render + mask"),
    ("airflow_fanout.operators.fanout", "FanOutSubmitOperator.execute", "op: execute"),
    ("airflow_fanout.operators.fanout", "parse_spec", "op: validate spec"),
    ("airflow_fanout.operators.fanout", "FanOutSubmitOperator.get_openlineage_facets_on_complete", "op: lineage"),
    ("airflow_fanout.hooks.fanout", "FanOutHook.__init__", "hook: init"),
    ("airflow_fanout.hooks.fanout", "FanOutHook.run", "hook: run"),
    ("airflow_fanout.hooks.fanout", "parse_spec", "hook: validate spec"),
    ("airflow_fanout.hooks.fanout", "mask_spec_secrets", "hook: mask secrets"),
    ("airflow_fanout.hooks.fanout", "FanOutHook.build_submit_hook", "hook: build SparkSubmitHook"),
    ("airflow_fanout.hooks.fanout", "FanOutHook.master", "hook: connection (master)"),
    ("airflow_fanout.hooks.fanout", "driver_zip", "hook: --py-files zip (hash, cached)"),
    ("airflow_fanout.hooks.fanout", "run_confs", "hook: confs"),
    ("airflow_fanout.hooks.fanout", "SparkSubmitHook.__init__", "provider: hook init (connection)"),
    ("airflow_fanout.hooks.fanout", "SparkSubmitHook.submit", "provider: submit (spark-submit process)"),
    ("airflow_fanout.hooks.fanout", "SparkSubmitHook._build_spark_submit_command", "provider: command line"),
    ("airflow_fanout.hooks.fanout", "SparkSubmitHook._process_spark_submit_log", "provider: log relay"),
    ("airflow_fanout.hooks.fanout", "driver_script", "hook: driver script"),
    ("airflow_fanout.hooks.fanout", "_read_report", "hook: read report"),
)
UNGATED = ("dag.test: parse the DAG folder again", "dag.test: serialize the DAG to the DB")
GATE = "task run (dag.test's _run_task)"


def children_cpu() -> float:
    """User + system CPU seconds of this process's finished (waited-for) child processes: for a
    spark-submit, its JVM's, which lands on the shared cores less noisily than its wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Timers:
    """Wall and thread-CPU seconds per label, summed over calls (re-entrant calls count once)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.children_cpu: dict[str, float] = defaultdict(float)
        self.process_cpu: dict[str, float] = defaultdict(float)
        self._depth: dict[str, int] = defaultdict(int)

    def reset(self) -> None:
        self.wall.clear()
        self.cpu.clear()
        self.calls.clear()
        self.children_cpu.clear()
        self.process_cpu.clear()

    def wrap(self, fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            gated = label not in UNGATED and label != GATE
            if gated and not self._depth[GATE]:
                return fn(*args, **kwargs)
            self._depth[label] += 1
            outer = self._depth[label] == 1
            wall0, cpu0, children0, process0 = (
                time.perf_counter(),
                time.thread_time(),
                children_cpu(),
                time.process_time(),
            )
            try:
                return fn(*args, **kwargs)
            finally:
                self._depth[label] -= 1
                if outer:
                    self.wall[label] += time.perf_counter() - wall0
                    self.cpu[label] += time.thread_time() - cpu0
                    self.children_cpu[label] += children_cpu() - children0
                    self.process_cpu[label] += time.process_time() - process0
                    self.calls[label] += 1

        timed.__wrapped__ = fn  # type: ignore[attr-defined]
        return timed

    def install(self, specs: Sequence[tuple[str, str, str]]) -> list[str]:
        """Patch every (module, attribute path) in ``specs``; returns the labels that were missing."""
        import importlib
        import inspect

        missing = []
        for module_name, path, label in specs:
            try:
                owner: Any = importlib.import_module(module_name)
                *parents, attr = path.split(".")
                for parent in parents:
                    owner = getattr(owner, parent)
                wrapped = self.wrap(getattr(owner, attr), label)
                static = isinstance(inspect.getattr_static(owner, attr), staticmethod)
                setattr(owner, attr, staticmethod(wrapped) if static else wrapped)
            except (ImportError, AttributeError):
                missing.append(label)
        return missing


def warm_up_execution_api(dag: Any, logical_date: datetime) -> float:
    """Seconds of one ``dag.test()`` of a no-op task (a return value, so an XCom too).

    ``dag.test()`` runs each task against an in-process FastAPI execution API. The first requests in
    a process build its versioned routes and compile its queries (seconds, most of it in the task's
    own start call, so inside the task instance's start/end); a worker talks to an API server that
    is already up. One no-op task run first leaves the operator's run with a warm API."""
    started = time.perf_counter()
    run = dag.test(logical_date=logical_date)
    if str(run.state) != "success":
        raise RuntimeError(f"the warm-up DAG run ended {run.state}")
    return time.perf_counter() - started


def child_main(out: str, logical_date: str, dag_file: str, profile: str | None, cold_api: bool) -> int:
    """Parse the DAG file, warm the in-process execution API up (unless ``cold_api``), run the
    operator's DAG once with ``dag.test()`` and write the timings to ``out``."""
    started = time.perf_counter()
    import runpy

    from airflow.sdk import DAG

    imported = time.perf_counter()
    # A worker's task process imports these when it parses the DAG file (before the task starts).
    import airflow_fanout.operators.fanout  # noqa: F401

    operator_import_s = time.perf_counter() - imported
    timers = Timers()
    missing = timers.install(TIMED)
    commands: list[list[str]] = []
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    build = SparkSubmitHook._build_spark_submit_command

    def capture(self: SparkSubmitHook, application: str) -> list[str]:
        command: list[str] = build(self, application)
        commands.append(command)
        return command

    SparkSubmitHook._build_spark_submit_command = capture  # type: ignore[method-assign]
    parse0 = time.perf_counter()
    found = runpy.run_path(dag_file)
    parse_s = time.perf_counter() - parse0
    dags = {v.dag_id: v for v in found.values() if isinstance(v, DAG)}
    dag = dags[DAG_ID]

    api_warmup_s = 0.0 if cold_api else warm_up_execution_api(dags[WARMUP_DAG_ID], datetime.fromisoformat(logical_date))
    timers.reset()
    test0 = time.perf_counter()
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        run = profiler.runcall(dag.test, logical_date=datetime.fromisoformat(logical_date))
        profiler.dump_stats(profile)
    else:
        run = dag.test(logical_date=datetime.fromisoformat(logical_date))
    dag_test_s = time.perf_counter() - test0

    (ti,) = [t for t in run.get_task_instances() if t.task_id == TASK_ID]
    result = {
        "dag_run_state": str(run.state),
        "ti_state": str(ti.state),
        "ti_duration_s": (ti.end_date - ti.start_date).total_seconds(),
        "dag_test_s": dag_test_s,
        "dag_parse_s": parse_s,
        "operator_import_s": operator_import_s,
        "api_warmup_s": api_warmup_s,
        "airflow_import_s": imported - started,
        "child_total_s": time.perf_counter() - started,
        "pieces_wall_s": dict(timers.wall),
        "pieces_cpu_s": dict(timers.cpu),
        "calls": dict(timers.calls),
        "pieces_children_cpu_s": dict(timers.children_cpu),
        "pieces_process_cpu_s": dict(timers.process_cpu),
        "missing_timers": missing,
        "openlineage_enabled": _openlineage_enabled(),
        "spark_submit_command": commands[-1] if commands else [],
    }
    Path(out).write_text(json.dumps(result, indent=2))
    return 0 if str(ti.state) == "success" else 1


def _openlineage_enabled() -> bool | None:
    try:
        from airflow.providers.openlineage.conf import is_disabled
    except ImportError:
        return None
    return not is_disabled()


# ----------------------------------------------------------------------------------------------
# The parent: set-up, alternating runs, results.
# ----------------------------------------------------------------------------------------------


def trivial_spec(work: Path, run_dir: Path, ds: str) -> dict[str, Any]:
    """A batch slice of the tiny landing folder into one Delta append sink under ``run_dir``. The
    app id is the run's own: the sink's Asset (named ``<app_id>.<sink>``) is new with its new path."""
    return {
        "version": 1,
        "app_id": f"overhead_{run_dir.name}",
        "params": {"ds": ds},
        "source": {"format": "json", "path": str(work / "landing"), "schema": "id BIGINT, name STRING, amount DOUBLE"},
        "run": {
            "mode": "batch",
            "checkpoint": str(run_dir / "_checkpoints"),
            "slice": {"key": ":ds", "where": "amount >= 0"},
        },
        "sinks": [{"name": "events", "path": str(run_dir / "events"), "mode": "append"}],
    }


def write_landing(work: Path) -> None:
    landing = work / "landing"
    landing.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"id": i, "name": f"n{i}", "amount": float(i)}) for i in range(ROWS)]
    (landing / "part-0000.json").write_text("\n".join(lines) + "\n", encoding="utf-8")


def airflow_env(work: Path) -> dict[str, str]:
    """The children's environment: the project's Spark env plus a private AIRFLOW_HOME."""
    return spark_env(
        {
            "AIRFLOW_HOME": str(work / "airflow-home"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(work / "dags"),
            "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": MASTER}),
            "FANOUT_CACHE_DIR": str(work / "cache"),
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        }
    )


def migrate(env: Mapping[str, str]) -> float:
    airflow = str(Path(sys.executable).with_name("airflow"))
    return run_process([airflow, "db", "migrate"], env=env).wall_s


def zip_timings(repeat: int) -> dict[str, Any]:
    """The ``--py-files`` zip: built into an empty cache, then found in it (hash of the files only)."""
    from airflow_fanout._packaging import driver_zip

    cold, warm = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as cache:
            t0 = time.perf_counter()
            driver_zip(cache)
            cold.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            driver_zip(cache)
            warm.append(time.perf_counter() - t0)
    return {"cold_ms": summarize([s * 1000 for s in cold], 2), "cached_ms": summarize([s * 1000 for s in warm], 2)}


def table_written(run_dir: Path) -> bool:
    return (run_dir / "events" / "_delta_log" / "00000000000000000000.json").exists()


def run_bare(
    work: Path,
    env: Mapping[str, str],
    index: int,
    ds: str,
    confs: Mapping[str, str],
    operator_command: Sequence[str] | None = None,
) -> tuple[float, float, list[str]]:
    """One bare spark-submit of the driver: its wall time, its process tree's CPU, its command.
    With ``operator_command``, the options of the command the operator ran (``--py-files``,
    ``--name`` and all), with this run's spec and report."""
    from airflow_fanout.submit import driver_args, submit_command

    kind = "bare" if operator_command is None else "hookcmd"
    run_dir = work / "runs" / f"{kind}-{index}"
    run_dir.mkdir(parents=True)
    spec_path = run_dir / "spec.json"
    spec_path.write_text(json.dumps(trivial_spec(work, run_dir, ds)))
    report = run_dir / "report.json"
    if operator_command is None:
        command = submit_command(str(spec_path), master=MASTER, report=str(report), confs=confs)
    else:
        script = next(i for i, arg in enumerate(operator_command) if arg.endswith("main.py"))
        command = [*operator_command[: script + 1], *driver_args(str(spec_path), None, str(report))]
        # The hook runs ``spark-submit`` from PATH with this interpreter's bin folder in front.
        search = os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", "")))
        command[0] = shutil.which(command[0], path=search) or command[0]
    cpu0 = children_cpu()
    done = run_process(command, env=env)
    cpu = children_cpu() - cpu0
    status = json.loads(report.read_text()).get("status")
    if status != "succeeded" or not table_written(run_dir):
        raise RuntimeError(f"{kind} run {index} did not write its table (status {status})")
    return done.wall_s, cpu, command


def run_operator(
    work: Path, env: Mapping[str, str], index: int, ds: str, profile: str | None, cold_api: bool
) -> dict[str, Any]:
    run_dir = work / "runs" / f"operator-{index}"
    run_dir.mkdir(parents=True)
    spec_path = run_dir / "spec.json"
    spec_path.write_text(json.dumps(trivial_spec(work, run_dir, ds)))
    out = run_dir / "timings.json"
    logical_date = (datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(days=index)).isoformat()
    command = [sys.executable, "-m", "benchmarks.operator_overhead", "--child", str(out), logical_date]
    command += [str(work / "dags" / "overhead_dag.py"), *(["--profile-out", profile] if profile else [])]
    command += ["--cold-api"] if cold_api else []
    done = run_process(command, env={**env, SPEC_ENV: str(spec_path)}, cwd=ROOT, check=False)
    (run_dir / "child.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"operator run {index} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-4000:]}")
    timings: dict[str, Any] = json.loads(out.read_text())
    if not table_written(run_dir):
        raise RuntimeError(f"operator run {index} did not write its table")
    timings["process_wall_s"] = done.wall_s
    return timings


def median_of(runs: Sequence[Mapping[str, Any]], key: str) -> list[float]:
    return [float(r[key]) for r in runs]


def piece(runs: Sequence[Mapping[str, Any]], label: str, kind: str = "pieces_wall_s") -> list[float]:
    return [float(r[kind].get(label, 0.0)) for r in runs]


def breakdown(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per piece, ms (min/median over runs), wall and this thread's CPU: wall includes waiting for
    a core on a busy machine, CPU does not (work done in other threads, like the in-process API's
    event loop or the JVM, is not in it)."""

    def row(samples: Sequence[float]) -> dict[str, Any]:
        return summarize([s * 1000.0 for s in samples], 2)

    out: dict[str, Any] = {
        label: {"wall": row(piece(runs, label)), "cpu": row(piece(runs, label, "pieces_cpu_s"))}
        for _, _, label in TIMED
    }
    submit = piece(runs, "provider: submit (spark-submit process)")
    execute = piece(runs, "op: execute")
    ti = median_of(runs, "ti_duration_s")
    hook_run = piece(runs, "hook: run")
    # Derived, wall: what surrounds the spark-submit wait in the same run (no JVM noise in these).
    out["derived: hook.run - submit"] = {"wall": row([h - s for h, s in zip(hook_run, submit, strict=True)])}
    out["derived: execute - submit"] = {"wall": row([e - s for e, s in zip(execute, submit, strict=True)])}
    out["derived: task (TI) - execute"] = {"wall": row([t - e for t, e in zip(ti, execute, strict=True)])}
    out["derived: task (TI) - submit"] = {"wall": row([t - s for t, s in zip(ti, submit, strict=True)])}
    return out


def command_difference(bare: Sequence[str], operator: Sequence[str]) -> dict[str, list[str]]:
    """spark-submit options (up to the application) one command has and the other has not."""

    def options(command: Sequence[str]) -> set[str]:
        script = next(i for i, arg in enumerate(command) if arg.endswith("main.py"))
        args, out, i = list(command[1:script]), set(), 0
        while i < len(args):
            if args[i].startswith("--") and i + 1 < len(args) and not args[i + 1].startswith("--"):
                out.add(f"{args[i]} {args[i + 1]}")
                i += 2
            else:
                out.add(args[i])
                i += 1
        return out

    ours, theirs = options(bare), options(operator)
    return {"only_in_operator": sorted(theirs - ours), "only_in_bare": sorted(ours - theirs)}


def profile_summary(path: str, limit: int = 25) -> dict[str, list[dict[str, Any]]]:
    """The profiled run's top functions by cumulative and by own time (the spark-submit wait shows
    up as lock/readline time under ``submit``)."""
    import pstats

    stats = pstats.Stats(path)
    rows = []
    for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = filename.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
        rows.append(
            {"function": f"{where}:{line}({func})", "calls": ncalls, "tottime_s": tottime, "cumtime_s": cumtime}
        )

    def top(key: str) -> list[dict[str, Any]]:
        ranked = sorted(rows, key=lambda r: -float(r[key]))[:limit]
        return [{**r, "tottime_s": round(r["tottime_s"], 4), "cumtime_s": round(r["cumtime_s"], 4)} for r in ranked]

    return {"by_cumulative": top("cumtime_s"), "by_own_time": top("tottime_s")}


@contextmanager
def work_dir(path: str | None) -> Iterator[Path]:
    """``path`` (kept), or a temporary folder removed afterwards."""
    if path:
        folder = Path(path).resolve()
        if folder.exists() and any(folder.iterdir()):
            raise SystemExit(f"--work-dir {folder} is not empty")
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    folder = Path(tempfile.mkdtemp(prefix="fanout-operator-overhead-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


#: The pieces drawn in the plot's right panel: (label in the breakdown, wall or cpu, bar name).
PLOTTED_PIECES = (
    ("derived: task (TI) - submit", "wall", "task - its spark-submit"),
    ("runner: prepare (render templates, listeners)", "wall", "runner: prepare"),
    ("op: render + mask", "wall", "  op: render + mask secrets"),
    ("runner: store rendered fields", "wall", "  runner: store rendered fields"),
    ("derived: execute - submit", "wall", "op: execute - spark-submit"),
    ("op: validate spec", "wall", "  op: validate spec"),
    ("hook: build SparkSubmitHook", "wall", "  hook: build SparkSubmitHook"),
    ("hook: --py-files zip (hash, cached)", "wall", "    --py-files zip (cached)"),
    ("provider: command line", "wall", "  provider: command line"),
    ("provider: log relay", "cpu", "provider: log relay (CPU, during Spark)"),
    ("runner: XCom push", "wall", "runner: XCom push"),
    ("runner: finalize (listeners, OpenLineage)", "wall", "runner: finalize, OpenLineage"),
)


def plot(
    path: Path, bare: Sequence[float], hookcmd: Sequence[float], op_runs: Sequence[Mapping[str, Any]], title: str
) -> None:
    """Left: the walls (median bars, min dashes); right: the operator's own pieces in ms."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = {
        "bare\nspark-submit": list(bare),
        **({"bare, the\noperator's\ncommand": list(hookcmd)} if hookcmd else {}),
        "operator\nexecute": piece(op_runs, "op: execute"),
        "task\n(TI start-end)": median_of(op_runs, "ti_duration_s"),
        "whole\ndag.test()": median_of(op_runs, "dag_test_s"),
        "child process:\nimports, API\nwarm-up, parse,\ndag.test()": median_of(op_runs, "process_wall_s"),
    }
    names = list(bars)
    medians = [statistics.median(v) for v in bars.values()]
    mins = [min(v) for v in bars.values()]
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.2), gridspec_kw={"width_ratios": [1.25, 1]})
    colors = ["#4c72b0", *(["#7fa6d9"] if hookcmd else []), "#55a868", "#55a868", "#c44e52", "#8172b2"]
    left.bar(names, medians, color=colors, label="median")
    left.scatter(names, mins, color="black", marker="_", s=400, zorder=3, label="min")
    for i, m in enumerate(medians):
        left.text(i, m, f"{m:.2f} s", ha="center", va="bottom", fontsize=8)
    left.set_ylabel("seconds")
    left.set_ylim(0, max(medians) * 1.15)
    left.legend(loc="lower right", fontsize=8)
    left.tick_params(axis="x", labelsize=7.5)

    pieces = breakdown(op_runs)
    labels = [name for _, _, name in PLOTTED_PIECES]
    values = [pieces[key][kind]["median"] for key, kind, _ in PLOTTED_PIECES]
    right.barh(labels, values, color=["#55a868"] + ["#9ecae1"] * (len(values) - 1))
    right.invert_yaxis()
    right.axvline(TARGET_S * 1000, color="#c44e52", linestyle="--", label=f"target {TARGET_S * 1000:.0f} ms")
    for i, v in enumerate(values):
        right.text(v, i, f" {v:.1f}", va="center", fontsize=7)
    right.set_xlabel("ms (median)")
    right.set_title("the operator's own time in the task", fontsize=9)
    right.tick_params(axis="y", labelsize=7)
    right.legend(loc="lower right", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 run each (under ~60 s on 2 quiet cores)")
    parser.add_argument("--repeat", type=int, help="runs per contender (default 5, --quick 1)")
    parser.add_argument("--work-dir", help="keep every run's spec, tables and timings here (must be empty)")
    parser.add_argument("--profile", action="store_true", help="one extra operator run under cProfile")
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG")
    parser.add_argument(
        "--hook-command",
        action=argparse.BooleanOptionalAction,
        help="also run bare spark-submit with the operator's own command (--py-files, --name): "
        "splits the difference into command and Airflow process (default: on, off with --quick)",
    )
    parser.add_argument(
        "--default-jvm", action="store_true", help="the JVM's default JIT and GC for the driver (slower, noisier)"
    )
    parser.add_argument(
        "--openlineage",
        action="store_true",
        help="enable OpenLineage (console transport) in the task; results get an -openlineage suffix",
    )
    parser.add_argument(
        "--cold-api",
        action="store_true",
        help="no warm-up task: dag.test()'s in-process execution API set-up then lands in the task",
    )
    parser.add_argument("--child", nargs=3, metavar=("OUT", "LOGICAL_DATE", "DAG_FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        out, logical_date, dag_file = args.child
        return child_main(out, logical_date, dag_file, args.profile_out, args.cold_api)

    repeat = args.repeat or (1 if args.quick else 5)
    with_hook_command = not args.quick if args.hook_command is None else args.hook_command
    variants = {"quick": args.quick, "openlineage": args.openlineage, "cold-api": args.cold_api}
    name = "-".join([NAME, *(v for v, on in {**variants, "default-jvm": args.default_jvm}.items() if on)])
    started = time.perf_counter()
    with work_dir(args.work_dir) as work:
        write_landing(work)
        (work / "dags").mkdir()
        (work / "dags" / "overhead_dag.py").write_text(DAG_FILE, encoding="utf-8")
        env = airflow_env(work)
        confs = EXTRA_CONFS if args.default_jvm else {**EXTRA_CONFS, **SHORT_RUN_JVM_CONFS}
        env[CONF_ENV] = json.dumps(confs)
        if args.openlineage:  # the provider is installed but off without a transport
            env["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps({"type": "console"})
        # The bare command is built here: the same resolved Delta jars as the operator's child.
        os.environ.setdefault("FANOUT_DELTA_JARS_DIR", env["FANOUT_DELTA_JARS_DIR"])
        migrate_s = migrate(env)
        print(f"airflow db migrate: {migrate_s:.1f} s", flush=True)
        zips = zip_timings(3)
        from airflow_fanout._packaging import driver_zip

        driver_zip(str(work / "cache"))  # steady state: a worker's cache already holds the zip

        bare: list[float] = []
        bare_command: list[str] = []
        bare_cpu: list[float] = []
        hookcmd: list[float] = []
        hookcmd_cpu: list[float] = []
        op_runs: list[dict[str, Any]] = []
        contenders = ["bare", "operator", *(["hookcmd"] if with_hook_command else [])]
        for i in range(repeat):
            shift = i % len(contenders)  # each contender takes each place in turn
            for contender in contenders[shift:] + contenders[:shift]:
                ds = f"2026-01-{i + 1:02d}"
                if contender == "bare":
                    wall, cpu, bare_command = run_bare(work, env, i, ds, confs)
                    bare.append(wall)
                    bare_cpu.append(cpu)
                    print(f"[{i}] bare spark-submit: {wall:.2f} s", flush=True)
                elif contender == "hookcmd":  # the rotation runs the operator first in round 0
                    wall, cpu, _ = run_bare(work, env, i, ds, confs, op_runs[0]["spark_submit_command"])
                    hookcmd.append(wall)
                    hookcmd_cpu.append(cpu)
                    print(f"[{i}] bare spark-submit, the operator's command: {wall:.2f} s", flush=True)
                else:
                    op_runs.append(run_operator(work, env, i, ds, None, args.cold_api))
                    r = op_runs[-1]
                    print(
                        f"[{i}] operator: task {r['ti_duration_s']:.2f} s, execute "
                        f"{r['pieces_wall_s']['op: execute']:.2f} s, spark-submit in hook "
                        f"{r['pieces_wall_s']['provider: submit (spark-submit process)']:.2f} s, dag.test "
                        f"{r['dag_test_s']:.2f} s, process {r['process_wall_s']:.2f} s",
                        flush=True,
                    )
        profile_rows: dict[str, list[dict[str, Any]]] = {}
        if args.profile:
            prof = str(work / "operator.prof")
            run_operator(work, env, repeat, f"2026-01-{repeat + 1:02d}", prof, args.cold_api)
            profile_rows = profile_summary(prof)

    ti = median_of(op_runs, "ti_duration_s")
    execute = piece(op_runs, "op: execute")
    submit = piece(op_runs, "provider: submit (spark-submit process)")
    task_minus_bare = statistics.median(ti) - statistics.median(bare)
    own = [t - s for t, s in zip(ti, submit, strict=True)]
    submit_cpu = piece(op_runs, "provider: submit (spark-submit process)", "pieces_children_cpu_s")
    dag_test = median_of(op_runs, "dag_test_s")
    results: list[dict[str, Any]] = [
        {"contender": "bare spark-submit", "wall": summarize(bare), "process_tree_cpu": summarize(bare_cpu)},
        *(
            [
                {
                    "contender": "bare spark-submit, the operator's command",
                    "wall": summarize(hookcmd),
                    "process_tree_cpu": summarize(hookcmd_cpu),
                }
            ]
            if hookcmd
            else []
        ),
        {
            "contender": "FanOutSubmitOperator (dag.test)",
            "task_duration": summarize(ti),
            "execute": summarize(execute),
            "spark_submit_in_hook": summarize(submit),
            "spark_submit_in_hook_process_tree_cpu": summarize(submit_cpu),
            "airflow_process_cpu_during_spark_submit": summarize(
                piece(op_runs, "provider: submit (spark-submit process)", "pieces_process_cpu_s")
            ),
            "dag_test": summarize(dag_test),
            "dag_test_outside_the_task": summarize([d - t for d, t in zip(dag_test, ti, strict=True)]),
            "execution_api_warmup": summarize(median_of(op_runs, "api_warmup_s")),
            "operator_module_import": summarize(median_of(op_runs, "operator_import_s")),
            "dag_parse": summarize(median_of(op_runs, "dag_parse_s")),
            "airflow_import": summarize(median_of(op_runs, "airflow_import_s")),
            "child_process_wall": summarize(median_of(op_runs, "process_wall_s")),
        },
        {
            "contender": "difference",
            "task_minus_bare_s": round(task_minus_bare, 3),
            "task_min_minus_bare_min_s": round(min(ti) - min(bare), 3),
            "bare_wall_spread_s": round(max(bare) - min(bare), 3),  # the run-to-run noise
            "task_minus_bare_paired": summarize([t - b for t, b in zip(ti, bare, strict=True)]),
            "execute_minus_bare_paired": summarize([e - b for e, b in zip(execute, bare, strict=True)]),
            "submit_in_hook_minus_bare_paired": summarize([s - b for s, b in zip(submit, bare, strict=True)]),
            "submit_cpu_in_hook_minus_bare_paired": summarize(
                [s - b for s, b in zip(submit_cpu, bare_cpu, strict=True)]
            ),
            "task_minus_its_own_spark_submit": summarize(own),
            **(
                {
                    "operator_command_bare_minus_bare_paired": summarize(
                        [h - b for h, b in zip(hookcmd, bare, strict=True)]
                    ),
                    "operator_command_bare_cpu_minus_bare_paired": summarize(
                        [h - b for h, b in zip(hookcmd_cpu, bare_cpu, strict=True)]
                    ),
                    "task_minus_operator_command_bare_paired": summarize(
                        [t - h for t, h in zip(ti, hookcmd, strict=True)]
                    ),
                }
                if hookcmd
                else {}
            ),
            "target_s": TARGET_S,
            "meets_target": task_minus_bare < TARGET_S,
            "meets_target_in_run": statistics.median(own) < TARGET_S,
        },
        {"contender": "breakdown_ms", "pieces": breakdown(op_runs)},
        {
            "contender": "spark-submit command",
            **command_difference(bare_command, op_runs[0].get("spark_submit_command") or []),
        },
    ]
    if profile_rows:
        results.append({"contender": "profile (one extra operator run under cProfile)", **profile_rows})
    params = {
        "quick": args.quick,
        "repeat": repeat,
        "master": MASTER,
        "extra_confs": confs,
        "cold_execution_api": args.cold_api,
        "source_rows": ROWS,
        "sinks": 1,
        "airflow_db_migrate_s": round(migrate_s, 2),
        "py_files_zip": zips,
        "openlineage_enabled": op_runs[0].get("openlineage_enabled"),
        "missing_timers": op_runs[0].get("missing_timers"),
        "versions": _versions(),
        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
        "total_s": round(time.perf_counter() - started, 1),
    }
    path = write_results(name, params, results)
    rows = {row["contender"]: row for row in results}
    print("seconds, median (min):")
    for row in results:
        for key, value in row.items():
            if isinstance(value, dict) and "median" in value:
                print(f"  {row['contender'][:24]:24s} {key:42s} {value['median']:9.3f} ({value['min']:.3f})")
    verdict = rows["difference"]
    print(
        f"  task - bare spark-submit (medians): {task_minus_bare:+.3f} s (bare runs spread over "
        f"{verdict['bare_wall_spread_s']:.2f} s), < {TARGET_S} s: {verdict['meets_target']}; "
        f"task - its own spark-submit: {statistics.median(own) * 1000:.0f} ms, < {TARGET_S} s: "
        f"{verdict['meets_target_in_run']}"
    )
    print("breakdown, ms (median wall / median CPU of this thread):")
    for label, row in rows["breakdown_ms"]["pieces"].items():
        cpu_ms = f"{row['cpu']['median']:10.2f}" if "cpu" in row else ""
        print(f"  {label:58s} {row['wall']['median']:10.2f} {cpu_ms}")
    print(json.dumps(rows["spark-submit command"]))
    print(f"wrote {path}")
    if not args.no_plot:
        png = PLOTS_DIR / f"{name}.png"
        title = (
            f"{NAME}: trivial spec, {repeat} runs each, load average {os.getloadavg()[0]:.1f} on "
            f"{os.cpu_count()} cores\ntask - bare spark-submit = {task_minus_bare:+.2f} s (medians); "
            f"task - its own spark-submit = {statistics.median(own) * 1000:.0f} ms"
        )
        plot(png, bare, hookcmd, op_runs, title)
        print(f"wrote {png}")
    return 0


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    names = ("apache-airflow", "apache-airflow-task-sdk", "apache-airflow-providers-apache-spark", "pyspark")
    return {n: version(n) for n in names}


if __name__ == "__main__":
    # The DAG test process must not import this module's parent twice under two names.
    sys.exit(main())
