"""Build the ``spark-submit`` command that runs the driver. Shared by the CLI and the Airflow hook.
Imports neither pyspark (only locates it) nor airflow."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from importlib.resources import files
from importlib.util import find_spec
from pathlib import Path

from airflow_fanout.delta_packages import delta_maven_coordinate, delta_spark_confs
from airflow_fanout.spec.secrets import redact

#: Delta rebuilds a table's state in this many tasks for every write that carries a txn id (see
#: docs/design.md). Its own default, 50, made four parallel txn-id appends to small tables take
#: 14.3 s on 2 cores; 4 partitions 2.6 s, 2 partitions 2.2 s, 1 partition 1.8 s (without txn
#: ids 0.7 s; benchmarks/txn_write_cost.py). More tasks than cores only queue, so a local run
#: uses one per core (not 1: a table with a long log still rebuilds on every core).
SNAPSHOT_PARTITIONS = "spark.databricks.delta.snapshotPartitions"
# Keeps small local runs quick; every key can be overridden by the caller's confs.
LOCAL_DEFAULT_CONFS = {
    "spark.sql.shuffle.partitions": "4",
    # one per core where the master names its cores (run_confs); 4 for ``local-cluster[...]``
    SNAPSHOT_PARTITIONS: "4",
    "spark.ui.showConsoleProgress": "false",
}
_LOCAL_MASTER = re.compile(r"^local(?:\[(\d+|\*)(?:,\d+)?\])?$")
#: for a driver JVM that lives seconds to a minute on few cores (tests, benchmarks), not a default:
#: C1 only, so C2 compiler threads do not compete with the work, and the serial GC for a small heap
SHORT_RUN_JVM_CONFS = {"spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}


def spark_home() -> str:
    """``SPARK_HOME`` for pip's pyspark (its own ``find-spark-home`` misfires without it)."""
    if os.environ.get("SPARK_HOME"):
        return os.environ["SPARK_HOME"]
    spec = find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise RuntimeError("pyspark is not installed: cannot locate spark-submit")
    return str(Path(spec.origin).parent)


def spark_submit_binary() -> str:
    return str(Path(spark_home()) / "bin" / "spark-submit")


def driver_script() -> str:
    """The driver's ``main.py`` inside the installed package."""
    return str(files("airflow_fanout.driver").joinpath("main.py"))


def submit_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for spark-submit: ``SPARK_HOME`` and this interpreter as ``PYSPARK_PYTHON``."""
    env = dict(os.environ if base is None else base)
    env.setdefault("SPARK_HOME", spark_home())
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    return env


def driver_args(spec_path: str, params: Mapping[str, object] | None = None, report: str | None = None) -> list[str]:
    """The driver's own arguments (after the script path)."""
    args = ["--spec", spec_path]
    for name, value in (params or {}).items():
        args += ["--param", f"{name}={value}"]
    if report:
        args += ["--report", report]
    return args


def local_cores(master: str) -> int | None:
    """The cores of a ``local``/``local[N]``/``local[*]``/``local[N,F]`` master; None for any other."""
    match = _LOCAL_MASTER.match(master)
    if match is None:
        return None
    cores = match.group(1)
    if cores is None:
        return 1
    if cores == "*":
        return os.cpu_count() or 1
    return max(1, int(cores))


def run_confs(master: str, *, delta: bool = True, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Spark confs for one driver run: small-run defaults for local masters (Delta's snapshot
    partitions: one per core), Delta's jars and SQL confs (unless ``delta=False``), then the
    caller's, which win."""
    confs: dict[str, str] = dict(LOCAL_DEFAULT_CONFS) if master.startswith("local") else {}
    cores = local_cores(master)
    if cores is not None:
        confs[SNAPSHOT_PARTITIONS] = str(cores)
    if delta:
        confs.update(delta_spark_confs())
    confs.update(extra or {})
    return confs


def submit_command(
    spec_path: str,
    *,
    params: Mapping[str, object] | None = None,
    master: str = "local[*]",
    report: str | None = None,
    confs: Mapping[str, str] | None = None,
    delta: bool = True,
) -> list[str]:
    """The full ``spark-submit`` command line for one driver run."""
    cmd = [spark_submit_binary(), "--master", master]
    for key, value in run_confs(master, delta=delta, extra=confs).items():
        cmd += ["--conf", f"{key}={value}"]
    return [*cmd, driver_script(), *driver_args(spec_path, params, report)]


def fetch_delta_jars(ivy_dir: str) -> list[str]:
    """Resolve the Delta jars (and their dependencies) into ``<ivy_dir>/jars`` once, through Ivy
    and Maven Central, by a no-op spark-submit; returns the jar paths."""
    ivy = Path(ivy_dir).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        noop = Path(tmp) / "noop.py"
        noop.write_text("print('delta jars resolved')\n", encoding="utf-8")
        cmd = [
            spark_submit_binary(),
            "--master",
            "local[1]",
            "--packages",
            delta_maven_coordinate(),
            "--conf",
            f"spark.jars.ivy={ivy}",
            str(noop),
        ]
        subprocess.run(cmd, env=submit_env(), check=True, stdout=subprocess.DEVNULL)
    return sorted(str(p) for p in (ivy / "jars").glob("*.jar"))


def run_driver(command: Sequence[str], *, echo: bool = True, secrets: Sequence[str] = ()) -> tuple[int, str | None]:
    """Run a driver command and return (exit code, report path).

    spark-submit merges the Python driver's stdout and stderr into its own stdout, so each line is
    echoed to our stderr as it comes (logs stay visible, ``secrets`` masked) and the last line is
    the report path."""
    proc = subprocess.Popen(
        list(command),
        env=submit_env(),
        stdout=subprocess.PIPE,
        stderr=None if echo else subprocess.DEVNULL,
        text=True,
        bufsize=1,
    )
    last: str | None = None
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip():
            last = line.strip()
        if echo:
            sys.stderr.write(redact(line, secrets))
    code = proc.wait()
    return code, (last if last and last.endswith(".json") else None)
