"""``FanOutHook``: runs the fan-out driver through the apache-spark provider's ``SparkSubmitHook``."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook
from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException, AirflowTaskTimeout

try:
    from airflow.sdk.log import mask_secret
except ImportError:  # pragma: no cover - Airflow 3.0/3.1
    from airflow.sdk.execution_time.secrets_masker import mask_secret  # type: ignore[no-redef]

from airflow_fanout import lake_files
from airflow_fanout._packaging import driver_zip
from airflow_fanout.driver.report import RunReport, merge_attempts, redact_json
from airflow_fanout.exceptions import RunError
from airflow_fanout.hooks.storage import storage_options, storage_spark_confs
from airflow_fanout.logs import SPARK_APP, LineReader
from airflow_fanout.spark_install import spark_home
from airflow_fanout.spec.model import FanOutSpec
from airflow_fanout.spec.secrets import secret_values
from airflow_fanout.spec.validate import parse_spec
from airflow_fanout.status import StorageOptions
from airflow_fanout.storage import is_object_store
from airflow_fanout.submit import DriverSubmission, check_submit_options, driver_script, driver_submission


class FanOutHook(BaseHook):
    """Builds and runs one driver run: the spec validated and written to a file, the Delta packages
    and SQL confs added, the driver's package shipped with ``--py-files``, and the driver's JSON
    report read back (the provider's hook finds no application id in client or local mode).

    :param conn_id: a Spark connection (``spark_default`` by default); its host is the master.
    :param delta_packages: add the Delta jars (``spark.jars`` from ``$FANOUT_DELTA_JARS_DIR``, else
        ``spark.jars.packages``) and the Delta SQL extension/catalog confs. Set False for clusters
        that already have them.
    :param conf: extra Spark confs, applied last.
    :param name: the Spark application name (default ``fanout-<app_id>``).
    :param verbose: pass ``--verbose`` to spark-submit.
    :param storage_conn_id: an Airflow connection with the object store's credentials, given to
        Spark as Hadoop confs (``airflow_fanout.storage.spark_confs``; ``conf`` wins), and used
        to read reports (and store a cluster-mode driver's spec) beside the checkpoint.
    :param submit_options: ``SparkSubmitHook`` settings passed through (``deploy_mode``,
        ``driver_memory``, ``executor_memory``, ``executor_cores``, ``num_executors``,
        ``total_executor_cores``, ``keytab``, ``principal``, ``proxy_user``, ``properties_file``,
        ``yarn_queue``, ``files``, ``archives``, ``jars``, ``packages``, ``exclude_packages``,
        ``repositories``, ``driver_class_path``, ``spark_binary``). With ``deploy_mode="cluster"``
        the driver starts on the cluster: its spec is stored beside an object-store checkpoint
        (else shipped with ``--files``) and its report written there.
    :param spark_log_level: Spark's own log level in the run (default: ``$FANOUT_SPARK_LOG_LEVEL``,
        else ``WARN``). Each line the run prints is logged at its own level (the driver's
        ``WARNING`` as a warning, Spark's ``ERROR`` as an error); the spark-submit command only at
        DEBUG.
    """

    conn_name_attr = "conn_id"
    default_conn_name = "spark_default"
    conn_type = "spark"
    hook_name = "Fan-out driver"

    def __init__(
        self,
        conn_id: str = default_conn_name,
        *,
        delta_packages: bool = True,
        conf: dict[str, str] | None = None,
        name: str | None = None,
        verbose: bool = False,
        spark_log_level: str | None = None,
        storage_conn_id: str | None = None,
        submit_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.storage_conn_id = storage_conn_id
        self.submit_options = dict(submit_options or {})
        check_submit_options(self.submit_options)
        self.conn_id = conn_id
        self.delta_packages = delta_packages
        self.conf = dict(conf or {})
        self.name = name
        self.verbose = verbose
        self.spark_log_level = spark_log_level
        self._submit_hook: SparkSubmitHook | None = None
        self._relay: DriverLogRelay | None = None
        #: where the last run's whole report is kept (None: it was in a temporary folder)
        self.report_path: str | None = None
        #: why spark-submit was stopped, when Airflow stopped it (``on_kill``)
        self.stopped_by: str | None = None

    def env_vars(self) -> dict[str, str]:
        """``SPARK_HOME`` (``$SPARK_HOME``, else pip's pyspark), ``PYSPARK_PYTHON`` and ``PATH``
        so the provider finds that Spark's ``spark-submit``. Raises ``SparkNotFoundError``
        (saying what to install) where there is no Spark to submit with."""
        home = spark_home()
        bins = [str(Path(home) / "bin"), str(Path(sys.executable).parent), os.environ.get("PATH", "")]
        return {
            "SPARK_HOME": home,
            "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON") or sys.executable,
            "PATH": os.pathsep.join(bins),
        }

    def cluster_submit_env(self) -> dict[str, str]:
        """spark-submit's environment in cluster deploy mode: this host's SPARK_HOME and PATH, and
        no ``PYSPARK_PYTHON``/``PYSPARK_DRIVER_PYTHON`` (YARN copies them to the cluster's driver,
        where this host's interpreter path does not exist: the cluster's own Python runs it)."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")}
        local = self.env_vars()
        return {**env, "SPARK_HOME": local["SPARK_HOME"], "PATH": local["PATH"]}

    def master(self) -> str:
        """The Spark master from the connection's host (and port); the connection must exist."""
        try:
            conn = self.get_connection(self.conn_id)
        except AirflowNotFoundException as exc:
            variable = f"AIRFLOW_CONN_{self.conn_id.upper()}"
            raise AirflowNotFoundException(
                f"Spark connection {self.conn_id!r} is not defined: create it (Admin > Connections, type "
                f"'spark', host = the master, e.g. 'local[*]', 'spark://host:7077', 'yarn'), or set "
                f"""{variable}='{{"conn_type": "spark", "host": "local[*]"}}', or pass conn_id="""
            ) from exc
        host = conn.host or "yarn"
        return f"{host}:{conn.port}" if conn.port else host

    def submission(self, spec: FanOutSpec, spec_path: str, report_path: str) -> DriverSubmission:
        """The run as ``driver_submission`` builds it for the CLI too: one builder, two renderings."""
        storage = storage_spark_confs(self.storage_conn_id) if self.storage_conn_id else {}
        return driver_submission(
            spec_path,
            master=self.master(),
            app_name=self.name or f"fanout-{spec.app_id}",
            report=report_path,
            confs={**storage, **self.conf},
            delta=self.delta_packages,
            spark_log=self.spark_log_level,
            s3a=spec.uses_s3,
            py_files=driver_zip(),
            options=self.submit_options,
            verbose=self.verbose,
        )

    def build_submit_hook(self, spec: FanOutSpec, spec_path: str, report_path: str) -> SparkSubmitHook:
        submission = self.submission(spec, spec_path, report_path)
        # In cluster mode the provider would send env_vars to the cluster's driver (or refuse
        # them): this host's SPARK_HOME and Python mean nothing there (see ``submit_env``).
        env_vars = None if submission.deploy_mode == "cluster" else self.env_vars()
        hook = SparkSubmitHook(conn_id=self.conn_id, env_vars=env_vars, **submission.hook_kwargs())  # type: ignore[arg-type]
        # The provider logs every line spark-submit prints at INFO: relay each at its own level.
        self._relay = DriverLogRelay(self.log)
        hook._log = self._relay  # type: ignore[assignment]
        return hook

    def run(
        self,
        spec_doc: dict[str, Any],
        *,
        report_dir: str | None = None,
        attempt: int = 1,
        on_spark_app: Callable[[dict[str, str]], None] | None = None,
    ) -> dict[str, Any]:
        """Validate ``spec_doc``, run the driver, return its run report. Raises ``SpecError`` for an
        invalid spec (before Spark starts) and ``RunError`` for a failed run.

        ``report_dir``: a folder kept across the attempts of one task run (the task's retries):
        attempt ``n`` writes ``attempt-<n>.json`` there as it goes, and the report returned (and
        kept as ``run.json``, its path in ``report_path``) covers every attempt: a batch a killed
        attempt committed is reported too, marked with that attempt. Without it, the report
        lives in a temporary folder for the run only. ``on_spark_app`` is called with the Spark
        application's id and UI as soon as the driver has started it."""
        spec = parse_spec(spec_doc)
        secrets = mask_spec_secrets(spec_doc, self.conf)
        options = self.storage_options()
        cluster = self.submit_options.get("deploy_mode") == "cluster"
        in_lake = cluster and is_object_store(spec.run.checkpoint)  # spec and report beside the checkpoint
        with tempfile.TemporaryDirectory(prefix="fanout-") as tmp:
            # The rendered spec with its params resolved: what ran is exactly what is logged. It
            # holds the credentials the driver needs: readable by this user only. A driver in
            # cluster deploy mode reads it from beside an object-store checkpoint instead.
            text = json.dumps({**spec_doc, "params": spec.params}, indent=2)
            spec_path = str(Path(tmp) / "spec.json")
            if in_lake:
                spec_path = lake_files.join(spec.run.checkpoint, f"_fanout/specs/{uuid.uuid4().hex}.json")
            lake_files.write_text(spec_path, text, options, private=True)
            if in_lake and report_dir is None:
                report_dir = lake_files.join(spec.run.checkpoint, f"_fanout/reports/runs/{uuid.uuid4().hex}")
            report_path = lake_files.join(report_dir or tmp, f"attempt-{attempt}.json")
            self._submit_hook = self.build_submit_hook(spec, spec_path, report_path)
            if self._relay is not None:
                self._relay.on_spark_app = on_spark_app
            failure: Exception | None = None
            try:
                if cluster:  # spark-submit itself still runs here: it needs this host's SPARK_HOME
                    self._submit_hook.submit(application=driver_script(), env=self.cluster_submit_env())
                else:
                    self._submit_hook.submit(application=driver_script())
            except AirflowTaskTimeout:
                self.stopped_by = "the task hit its execution_timeout"
                self.log.error("spark-submit stopped: %s (Airflow kills it next)", self.stopped_by)
                raise
            except Exception as exc:  # the provider raises AirflowException on a non-zero exit
                self.log.debug("spark-submit failed: %s", exc)  # its text holds the whole command
                failure = exc
            finally:
                if in_lake:
                    lake_files.delete(spec_path, options)
            report = _read_report(report_path, secrets, options)
            if report is not None and report_dir is not None:
                report = self._over_attempts(report_dir, attempt, report, secrets, options)
            elif report is not None:
                self.report_path = None
        if failure is not None or report is None or report.get("status") != "succeeded":
            raise RunError(f"fan-out run of {spec.app_id} failed: {self.failure_reason(report)}")
        return report

    def _over_attempts(
        self, folder: str, attempt: int, report: dict[str, Any], secrets: list[str], options: StorageOptions
    ) -> dict[str, Any]:
        """The report over every attempt so far (``merge_attempts``), written as ``run.json``."""
        attempts = []
        for number in range(1, attempt):
            earlier = _read_report(lake_files.join(folder, f"attempt-{number}.json"), secrets, options)
            if earlier is not None:  # an attempt killed before its first batch left none
                attempts.append(RunReport.from_dict(earlier))
        merged = merge_attempts([*attempts, RunReport.from_dict(report)])
        self.report_path = lake_files.write_text(lake_files.join(folder, "run.json"), merged.to_text(secrets), options)
        return merged.to_dict()

    def storage_options(self) -> dict[str, str] | None:
        """The readers' options for the checkpoint's store (None: the environment's)."""
        return storage_options(self.storage_conn_id)

    def failure_reason(self, report: dict[str, Any] | None) -> str:
        """One line on why a run failed: the driver's own error, else who stopped spark-submit
        (Airflow, a signal such as the OOM killer's SIGKILL) or its exit code and last error line."""
        if report is not None and report.get("error"):
            return str(report["error"])
        process = getattr(self._submit_hook, "_submit_sp", None)
        code = process.returncode if process is not None else None
        last_error = self._relay.last_error if self._relay is not None else None
        return describe_exit(code, self.stopped_by, last_error)

    def on_kill(self) -> None:
        if self.stopped_by is None:
            self.stopped_by = "Airflow stopped the task (marked failed or cleared, or timed out)"
        if self._submit_hook is not None:
            self._submit_hook.on_kill()


def describe_exit(code: int | None, stopped_by: str | None, last_error: str | None) -> str:
    """Why spark-submit ended with ``code`` (negative: killed by that signal), in one line."""
    if stopped_by is not None:
        return f"spark-submit stopped: {stopped_by}"
    if code is not None and code in (-signal.SIGKILL, 128 + signal.SIGKILL):
        return (
            f"spark-submit was killed by SIGKILL (exit code {code}): the kernel's out-of-memory killer, or "
            "another process; a rerun replays the batch"
        )
    if code is not None and code < 0:
        return f"spark-submit was stopped by signal {signal.Signals(-code).name} (exit code {code})"
    detail = f": {last_error}" if last_error else " (see the task log above)"
    return f"spark-submit exited with code {code} before the driver wrote its report{detail}"


class DriverLogRelay:
    """Stands in for ``SparkSubmitHook``'s logger: each line a driver run prints is logged at its
    own level (``airflow_fanout.logs``): the driver's lines as they are (without their time stamp),
    Spark's with ``spark <Logger>:`` before them, the spark-submit command at DEBUG. Remembers the
    last error line for the failure message."""

    _METHODS: ClassVar[dict[int, str]] = {
        logging.DEBUG: "debug",
        logging.INFO: "info",
        logging.WARNING: "warning",
        logging.ERROR: "error",
        logging.CRITICAL: "critical",
    }

    def __init__(self, log: Any) -> None:
        self._log = log
        self._reader = LineReader()
        self.last_error: str | None = None
        #: called once with ``{"app_id", "ui"}`` when the driver logs its Spark application
        self.on_spark_app: Callable[[dict[str, str]], None] | None = None

    def info(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        if not isinstance(msg, str) or args or kwargs:
            if isinstance(msg, str) and msg.startswith("Spark-Submit cmd"):
                self._log.debug(msg, *args, **kwargs)  # the whole command line: only when asked
            else:
                self._log.info(msg, *args, **kwargs)
            return
        line = self._reader.read(msg)
        text = f"spark {line.logger}: {line.message}" if line.source == "spark" else line.message
        if line.source == "driver" and self.on_spark_app is not None and (app := SPARK_APP.match(line.message)):
            self.on_spark_app({"app_id": app.group(1), "ui": app.group(2)})
            self.on_spark_app = None
        if line.level >= logging.ERROR and line.source != "output" and not line.continued:
            self.last_error = text
        getattr(self._log, self._METHODS.get(line.level, "info"))(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._log, name)


def mask_spec_secrets(spec_doc: dict[str, Any], conf: dict[str, str] | None = None) -> list[str]:
    """Register the spec's credentials (and secret-looking confs) with Airflow's secrets masker,
    which then masks them in task logs, rendered template fields and serialized DAGs."""
    secrets = secret_values(spec_doc, conf)
    for secret in secrets:
        mask_secret(secret)
    return secrets


def _read_report(path: str, secrets: list[str], options: StorageOptions = None) -> dict[str, Any] | None:
    """The driver's report (the task's XCom value), secrets masked once more in case a driver of
    another version wrote it; None if there is none (or it is unreadable)."""
    try:
        text = lake_files.read_text(path, options)
        if text is None:
            return None
        report: dict[str, Any] = json.loads(redact_json(text, secrets))
        return report
    except (OSError, ValueError):
        return None
