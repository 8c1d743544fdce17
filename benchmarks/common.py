"""What every benchmark shares: the machine description, repeated measurements reduced to
min/median, child processes timed with their peak memory, and the results file format.

Results files (``benchmarks/results/<name>.json``) all look like::

    {"benchmark": "<name>", "machine": {...}, "params": {...}, "results": [{...}, ...]}

where each result row carries its own keys (contender, sizes) plus measurements made by
:func:`summarize` (``{"min": .., "median": .., "runs": [..]}``, seconds unless the key says ms).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
PLOTS_DIR = RESULTS_DIR


def machine_info() -> dict[str, Any]:
    """Enough to tell two machines apart when reading a results file."""
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "java": (java.stderr or java.stdout).splitlines()[0] if (java.stderr or java.stdout) else "",
        "pyspark": version("pyspark"),
        "delta_spark": version("delta-spark"),
        "deltalake": version("deltalake"),
    }


def summarize(samples: Sequence[float], digits: int = 3) -> dict[str, Any]:
    """Min and median of repeated measurements, with every run kept."""
    return {
        "min": round(min(samples), digits),
        "median": round(statistics.median(samples), digits),
        "runs": [round(s, digits) for s in samples],
    }


def repeat(fn: Callable[[], object], times: int) -> list[float]:
    """Seconds per call of ``fn``, ``times`` calls."""
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


@dataclass(frozen=True)
class ProcessRun:
    """One child process run to completion."""

    wall_s: float
    peak_rss_bytes: int  # the largest single process of the tree (the driver JVM in local mode)
    returncode: int
    stdout: str
    stderr: str


def run_process(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    poll_seconds: float = 0.05,
    check: bool = True,
) -> ProcessRun:
    """Run ``command``, timing it and sampling the peak RSS of every process in its tree (the
    JVM that spark-submit starts is a child, not the process we start)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(command),
        env=dict(env) if env is not None else None,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for p in tree:
                with contextlib.suppress(psutil.NoSuchProcess):
                    peak = max(peak, p.memory_info().rss)
            done.wait(poll_seconds)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if check and proc.returncode != 0:
        raise RuntimeError(f"{command[0]} exited {proc.returncode}:\n{stderr[-4000:]}")
    return ProcessRun(wall, peak, proc.returncode, stdout, stderr)


def spark_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for spark-submit and pyspark children: pyspark's own ``SPARK_HOME``, this
    interpreter on both sides, the project's resolved Delta jars."""
    from airflow_fanout.submit import submit_env

    env = submit_env()
    env.setdefault("FANOUT_DELTA_JARS_DIR", str(ROOT / ".ivy" / "jars"))
    env["PYSPARK_PYTHON"] = sys.executable
    env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    env.update(extra or {})
    return env


def write_results(name: str, params: Mapping[str, Any], results: Sequence[Mapping[str, Any]]) -> Path:
    """Write ``results/<name>.json`` and return its path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {"benchmark": name, "machine": machine_info(), "params": dict(params), "results": list(results)}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def read_results(name: str) -> dict[str, Any]:
    return json.loads((RESULTS_DIR / f"{name}.json").read_text())  # type: ignore[no-any-return]


def local_delta_session(app_name: str, confs: Mapping[str, str], master: str = "local[2]") -> Any:
    """A quiet local SparkSession with Delta from the project's resolved jars and
    ``confs`` (pyspark is imported here: most benchmark processes never start a JVM)."""
    os.environ.update(spark_env())
    from pyspark.sql import SparkSession

    from airflow_fanout.delta_packages import delta_spark_confs, local_delta_jars

    if not local_delta_jars():
        raise SystemExit("Delta jars are not resolved: run `make setup` (airflow-fanout fetch-jars --ivy .ivy)")
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        **confs,
        **delta_spark_confs(),
    }.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
