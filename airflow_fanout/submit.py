"""Build the ``spark-submit`` command that runs the driver. Shared by the CLI and the Airflow hook.
Imports neither pyspark (only locates it) nor airflow."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from airflow_fanout.delta_packages import (
    S3A_SDK_MODULES,
    delta_maven_coordinate,
    delta_python_jar,
    delta_spark_confs,
    hadoop_aws_coordinate,
)
from airflow_fanout.logs import DriverLine, LineReader
from airflow_fanout.spark_install import spark_home
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
#: C1 only, so C2 compiler threads do not compete with the work, and the serial GC for a small heap.
#: C1-only mode shrinks the code cache to 48 MB (tiered: 240 MB), which a longer run with Delta and
#: S3A fills: "VirtualMachineError: Out of space in CodeCache for adapters" in a task, and Spark's
#: uncaught-exception handler ends the JVM. The code cache keeps the tiered size.
SHORT_RUN_JVM_CONFS = {
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m -XX:+UseSerialGC"
}
#: Spark's own log level in driver runs (``spark_log_level`` of the hook and operators, ``--spark-log-level``
#: of the CLI), else this environment variable, else ``WARN``: Spark's INFO lines are most of a
#: task log and hide the driver's own.
SPARK_LOG_LEVEL_ENV = "FANOUT_SPARK_LOG_LEVEL"
SPARK_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF")
_JAVA_OPTIONS = "spark.driver.extraJavaOptions"


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


def spark_log_level(level: str | None = None) -> str:
    """The Spark log level of a driver run: ``level``, else ``$FANOUT_SPARK_LOG_LEVEL``, else WARN."""
    chosen = (level or os.environ.get(SPARK_LOG_LEVEL_ENV) or "WARN").upper()
    if chosen == "WARNING":
        chosen = "WARN"
    if chosen not in SPARK_LOG_LEVELS:
        raise ValueError(f"Spark log level {chosen!r} is not one of {', '.join(SPARK_LOG_LEVELS)}")
    return chosen


def spark_logging_options(level: str) -> str:
    """Driver JVM options that make Spark log through ``spark-log4j2.properties`` at ``level``."""
    config = files("airflow_fanout").joinpath("spark-log4j2.properties")
    return f"-Dlog4j2.configurationFile=file:{config} -Dfanout.spark.log.level={level}"


def run_confs(
    master: str,
    *,
    delta: bool = True,
    extra: Mapping[str, str] | None = None,
    spark_log: str | None = None,
    s3a: bool = False,
) -> dict[str, str]:
    """Spark confs for one driver run: small-run defaults for local masters (Delta's snapshot
    partitions: one per core), Delta's jars and SQL confs (unless ``delta=False``; ``s3a``: with
    the S3A connector's), then the caller's, which win; Spark's logging at
    ``spark_log_level(spark_log)`` unless the caller's driver JVM options name a log4j
    configuration of their own."""
    confs: dict[str, str] = dict(LOCAL_DEFAULT_CONFS) if master.startswith("local") else {}
    cores = local_cores(master)
    if cores is not None:
        confs[SNAPSHOT_PARTITIONS] = str(cores)
    if delta:
        confs.update(delta_spark_confs(s3a=s3a))
    confs.update(extra or {})
    java = confs.get(_JAVA_OPTIONS, "")
    if "log4j2.configurationFile" not in java and "log4j.configuration" not in java:
        confs[_JAVA_OPTIONS] = f"{java} {spark_logging_options(spark_log_level(spark_log))}".strip()
    return confs


#: spark-submit settings a run may pass through (the apache-spark provider's ``SparkSubmitHook``
#: arguments of the same names), and the flag each is on the command line
SUBMIT_OPTIONS: dict[str, str] = {
    "deploy_mode": "--deploy-mode",
    "driver_memory": "--driver-memory",
    "executor_memory": "--executor-memory",
    "executor_cores": "--executor-cores",
    "num_executors": "--num-executors",
    "total_executor_cores": "--total-executor-cores",
    "keytab": "--keytab",
    "principal": "--principal",
    "proxy_user": "--proxy-user",
    "properties_file": "--properties-file",
    "yarn_queue": "--queue",
    "files": "--files",
    "archives": "--archives",
    "jars": "--jars",
    "packages": "--packages",
    "exclude_packages": "--exclude-packages",
    "repositories": "--repositories",
    "driver_class_path": "--driver-class-path",
}


def check_submit_options(options: Mapping[str, object]) -> None:
    """Raise ``ValueError`` naming each option spark-submit does not take through this path."""
    known = {*SUBMIT_OPTIONS, "spark_binary"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown spark-submit option(s) {unknown}: use one of {sorted(known)}")
    mode = options.get("deploy_mode")
    if mode not in (None, "client", "cluster"):
        raise ValueError(f"deploy_mode {mode!r}: 'client' or 'cluster'")


@dataclass(frozen=True)
class DriverSubmission:
    """One driver run as spark-submit sees it: built once (``driver_submission``) and handed to
    ``spark-submit`` either as a command line (``command``: the CLI, tests) or as the apache-spark
    provider's ``SparkSubmitHook`` arguments (``hook_kwargs``: the Airflow hook). Both render
    the same fields, so the two paths cannot drift apart."""

    master: str
    confs: dict[str, str]
    application: str
    application_args: list[str]
    name: str
    py_files: str | None = None
    options: dict[str, object] = field(default_factory=dict)
    verbose: bool = False

    @property
    def deploy_mode(self) -> str:
        return str(self.options.get("deploy_mode") or "client")

    def command(self, binary: str | None = None) -> list[str]:
        """The ``spark-submit`` command line (the provider's order: master, confs, options)."""
        cmd = [binary or str(self.options.get("spark_binary") or spark_submit_binary()), "--master", self.master]
        for key, value in self.confs.items():
            cmd += ["--conf", f"{key}={value}"]
        for option, flag in SUBMIT_OPTIONS.items():
            chosen = self.options.get(option)
            if chosen is not None and chosen != "":
                cmd += [flag, str(chosen)]
        if self.py_files:
            cmd += ["--py-files", self.py_files]
        cmd += ["--name", self.name]
        if self.verbose:
            cmd += ["--verbose"]
        return [*cmd, self.application, *self.application_args]

    def hook_kwargs(self) -> dict[str, object]:
        """``SparkSubmitHook(**kwargs)`` (the master comes from its connection)."""
        return {
            "conf": dict(self.confs),
            "py_files": self.py_files,
            "name": self.name,
            "application_args": list(self.application_args),
            "verbose": self.verbose,
            **{k: v for k, v in self.options.items() if v is not None},
        }


def driver_submission(
    spec_path: str,
    *,
    master: str,
    app_name: str,
    params: Mapping[str, object] | None = None,
    report: str | None = None,
    confs: Mapping[str, str] | None = None,
    delta: bool = True,
    spark_log: str | None = None,
    s3a: bool = False,
    py_files: str | None = None,
    options: Mapping[str, object] | None = None,
    verbose: bool = False,
) -> DriverSubmission:
    """Everything one driver run needs, for every deploy mode.

    In ``cluster`` deploy mode the driver starts on the cluster, where a local ``spec_path`` does
    not exist: the spec file travels with the job (``--files``; the driver finds it by name in
    its working directory, as YARN localizes it), unless it is a URL already (a spec stored in
    the lake, which the driver reads through Hadoop). The run report must then be a URL too
    (the checkpoint's object-store folder) for anyone to read it back."""
    chosen = dict(options or {})
    check_submit_options(chosen)
    spec_arg = spec_path
    if chosen.get("deploy_mode") == "cluster" and "://" not in spec_path:
        shipped = [f for f in str(chosen.get("files") or "").split(",") if f]
        chosen["files"] = ",".join([*shipped, spec_path])
        spec_arg = Path(spec_path).name
    run = run_confs(master, delta=delta, extra=confs, spark_log=spark_log, s3a=s3a)
    # no delta-spark wheel here: Delta's Python API comes from the jar the run is given
    delta_python = delta_python_jar(run.get("spark.jars", "").split(",")) if delta else None
    if delta_python:
        py_files = ",".join(p for p in (py_files, delta_python) if p)
    return DriverSubmission(
        master=master,
        confs=run,
        application=driver_script(),
        application_args=driver_args(spec_arg, params, report),
        name=app_name,
        py_files=py_files,
        options=chosen,
        verbose=verbose,
    )


def submit_command(
    spec_path: str,
    *,
    params: Mapping[str, object] | None = None,
    master: str = "local[*]",
    report: str | None = None,
    confs: Mapping[str, str] | None = None,
    delta: bool = True,
    spark_log: str | None = None,
    s3a: bool = False,
    options: Mapping[str, object] | None = None,
    app_name: str = "fanout",
) -> list[str]:
    """The full ``spark-submit`` command line for one driver run (``driver_submission``), the
    driver's modules shipped with it as the hook ships them (a cluster needs nothing installed)."""
    from airflow_fanout._packaging import driver_zip

    return driver_submission(
        spec_path,
        master=master,
        app_name=app_name,
        params=params,
        report=report,
        confs=confs,
        delta=delta,
        spark_log=spark_log,
        s3a=s3a,
        options=options,
        py_files=driver_zip(),
    ).command()


def fetch_delta_jars(ivy_dir: str) -> list[str]:
    """Resolve the Delta jars (and their dependencies) into ``<ivy_dir>/jars`` once, through Ivy
    and Maven Central, by a no-op spark-submit; returns the jar paths."""
    ivy = Path(ivy_dir).resolve()
    _resolve([delta_maven_coordinate()], ivy)
    return sorted(str(p) for p in (ivy / "jars").glob("*.jar"))


def fetch_s3a_jars(ivy_dir: str) -> list[str]:
    """Resolve the Hadoop S3A connector into ``<ivy_dir>/s3a/jars`` (its own Ivy home, so Delta-only
    runs do not carry it): ``hadoop-aws`` at Spark's Hadoop version, and instead of the 686 MB AWS
    SDK bundle it depends on, the SDK modules S3A calls (``S3A_SDK_MODULES``, ~19 MB with their
    dependencies) at the bundle's version, read from hadoop-aws's own descriptor."""
    ivy = (Path(ivy_dir) / "s3a").resolve()
    hadoop_aws = hadoop_aws_coordinate()
    _resolve([hadoop_aws], ivy, exclude=[BUNDLE])
    version = hadoop_aws.rsplit(":", 1)[1]
    descriptor = ivy / "cache" / "org.apache.hadoop" / "hadoop-aws" / f"ivy-{version}.xml"
    found = re.search(r'org="software\.amazon\.awssdk" name="bundle" rev="([^"]+)"', descriptor.read_text())
    if found is None:
        raise RuntimeError(f"{descriptor}: names no AWS SDK bundle version")
    sdk = [f"software.amazon.awssdk:{module}:{found.group(1)}" for module in S3A_SDK_MODULES]
    _resolve([hadoop_aws, *sdk], ivy, exclude=[BUNDLE])
    return sorted(str(p) for p in (ivy / "jars").glob("*.jar"))


BUNDLE = "software.amazon.awssdk:bundle"


def _resolve(packages: list[str], ivy: Path, exclude: Sequence[str] = ()) -> None:
    """Resolve ``packages`` into Ivy home ``ivy`` (its ``jars`` folder) by a no-op spark-submit."""
    with tempfile.TemporaryDirectory() as tmp:
        noop = Path(tmp) / "noop.py"
        noop.write_text("print('jars resolved')\n", encoding="utf-8")
        cmd = [spark_submit_binary(), "--master", "local[1]", "--packages", ",".join(packages)]
        if exclude:
            cmd += ["--exclude-packages", ",".join(exclude)]
        cmd += ["--conf", f"spark.jars.ivy={ivy}", str(noop)]
        subprocess.run(cmd, env=submit_env(), check=True, stdout=subprocess.DEVNULL)


def run_driver(
    command: Sequence[str], *, echo: bool = True, secrets: Sequence[str] = (), verbose: bool = False
) -> tuple[int, str | None]:
    """Run a driver command and return (exit code, report path).

    spark-submit merges the Python driver's stdout and stderr into its own stdout, so each line is
    echoed to our stderr as it comes (``secrets`` masked): by default a quiet terminal, the run's
    start, one progress line per batch, and every warning and error; ``verbose``: every line. The
    last line is the report path."""
    proc = subprocess.Popen(
        list(command),
        env=submit_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    report: str | None = None
    reader = LineReader()
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = reader.read(raw)
        if line.source == "output" and raw.strip().endswith(".json"):
            report = raw.strip()  # the driver prints the report's path last on its stdout
        if not echo:
            continue
        if verbose:
            sys.stderr.write(redact(raw, secrets))
        elif line.is_progress or line.level >= logging.WARNING:
            sys.stderr.write(redact(_terminal_line(line), secrets) + "\n")
    code = proc.wait()
    return code, report


def _terminal_line(line: DriverLine) -> str:
    if line.source == "output":
        return line.message
    tag = logging.getLevelName(line.level)
    return line.message if line.level < logging.WARNING else f"{tag}: {line.message}"
