"""``FanOutHook``: runs the fan-out driver through the apache-spark provider's ``SparkSubmitHook``."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook
from airflow.sdk import BaseHook

try:
    from airflow.sdk.log import mask_secret
except ImportError:  # pragma: no cover - Airflow 3.0/3.1
    from airflow.sdk.execution_time.secrets_masker import mask_secret  # type: ignore[no-redef]

from airflow_fanout._packaging import driver_zip
from airflow_fanout.driver.report import redact_json
from airflow_fanout.exceptions import RunError
from airflow_fanout.spec.model import FanOutSpec
from airflow_fanout.spec.secrets import secret_values
from airflow_fanout.spec.validate import parse_spec
from airflow_fanout.submit import driver_args, driver_script, run_confs, spark_home


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
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.delta_packages = delta_packages
        self.conf = dict(conf or {})
        self.name = name
        self.verbose = verbose
        self._submit_hook: SparkSubmitHook | None = None

    def env_vars(self) -> dict[str, str]:
        """``SPARK_HOME``/``PYSPARK_PYTHON`` for pip's pyspark, and ``PATH`` so ``spark-submit`` is found."""
        bin_dir = str(Path(sys.executable).parent)
        return {
            "SPARK_HOME": os.environ.get("SPARK_HOME") or spark_home(),
            "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON") or sys.executable,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def master(self) -> str:
        conn = self.get_connection(self.conn_id)
        host = conn.host or "yarn"
        return f"{host}:{conn.port}" if conn.port else host

    def build_submit_hook(self, spec: FanOutSpec, spec_path: str, report_path: str) -> SparkSubmitHook:
        master = self.master()
        return SparkSubmitHook(
            conn_id=self.conn_id,
            conf=run_confs(master, delta=self.delta_packages, extra=self.conf),
            py_files=driver_zip(),
            name=self.name or f"fanout-{spec.app_id}",
            application_args=driver_args(spec_path, None, report_path),
            env_vars=self.env_vars(),
            verbose=self.verbose,
        )

    def run(self, spec_doc: dict[str, Any]) -> dict[str, Any]:
        """Validate ``spec_doc``, run the driver, return its run report. Raises ``SpecError`` for an
        invalid spec (before Spark starts) and ``RunError`` for a failed run."""
        spec = parse_spec(spec_doc)
        secrets = mask_spec_secrets(spec_doc, self.conf)
        with tempfile.TemporaryDirectory(prefix="fanout-") as tmp:
            spec_path = str(Path(tmp) / "spec.json")
            report_path = str(Path(tmp) / "report.json")
            # The rendered spec with its params resolved: what ran is exactly what is logged. It
            # holds the credentials the driver needs: readable by this user only.
            fd = os.open(spec_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({**spec_doc, "params": spec.params}, fh, indent=2)
            self._submit_hook = self.build_submit_hook(spec, spec_path, report_path)
            failure: Exception | None = None
            try:
                self._submit_hook.submit(application=driver_script())
            except Exception as exc:  # the provider raises AirflowException on a non-zero exit
                failure = exc
            report = _read_report(report_path, secrets)
        if failure is not None or report is None or report.get("status") != "succeeded":
            reason = (report or {}).get("error") or str(failure or "the driver wrote no report")
            raise RunError(f"fan-out run of {spec.app_id} failed: {reason}")
        return report

    def on_kill(self) -> None:
        if self._submit_hook is not None:
            self._submit_hook.on_kill()


def mask_spec_secrets(spec_doc: dict[str, Any], conf: dict[str, str] | None = None) -> list[str]:
    """Register the spec's credentials (and secret-looking confs) with Airflow's secrets masker,
    which then masks them in task logs, rendered template fields and serialized DAGs."""
    secrets = secret_values(spec_doc, conf)
    for secret in secrets:
        mask_secret(secret)
    return secrets


def _read_report(path: str, secrets: list[str]) -> dict[str, Any] | None:
    """The driver's report (the task's XCom value), secrets masked once more in case a driver of
    another version wrote it."""
    try:
        with open(path, encoding="utf-8") as fh:
            report: dict[str, Any] = json.loads(redact_json(fh.read(), secrets))
            return report
    except (OSError, ValueError):
        return None
