"""``DeltaTxnSensor``: succeeds when every sink of a spec has committed the expected txn version."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, conf
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout

from airflow_fanout.hooks.storage import storage_options
from airflow_fanout.operators.spec_source import is_static, parse_for, parse_time_doc
from airflow_fanout.spec.naming import sink_app_id
from airflow_fanout.status import WatchedSink, confirmed, lagging, watch
from airflow_fanout.triggers.delta_txn import DeltaTxnTrigger


class DeltaTxnSensor(BaseSensorOperator):
    """Wait until each watched sink's Delta log records at least the expected txn version for the
    sink's app id (``<app_id>.<sink>``, or ``<app_id>.<sink>.<slice>`` for a batch spec). The logs
    are read without a JVM. A missing table, or one without the app id yet, means "not yet".

    :param spec: the spec (dict, or path of a ``.json`` file) whose sinks to watch (templated).
    :param spec_params: spec parameters (templated), e.g. ``{"ds": "{{ ds }}"}`` for a backfill spec
        whose slice key is ``:ds``.
    :param sinks: names of the sinks to watch (default: all).
    :param report_task_id: a fan-out operator's task id: wait for the txn versions its run report
        (XCom) lists per sink. Sinks the run did not write (no new data) are not waited for.
    :param expected_version: wait for this txn version on every sink instead. Default for a batch
        spec without a report: 0 (any run of the slice has committed).
    :param storage_conn_id: an Airflow connection (``aws``, ``wasb``/``adls``,
        ``google_cloud_platform``) with the credentials of sink tables in an object store; without
        it the environment's are used (``AWS_ACCESS_KEY_ID`` ...).
    :param deferrable: wait in the triggerer (``DeltaTxnTrigger``) instead of a worker slot
        (default: ``[operators] default_deferrable``).

    On time-out the error names each lagging sink with its recorded and expected version.
    """

    template_fields: Sequence[str] = ("spec", "spec_params", "expected_version")
    template_ext: Sequence[str] = (".json",)
    ui_color = "#e3f0d5"

    def __init__(
        self,
        *,
        spec: dict[str, Any] | str,
        spec_params: dict[str, Any] | None = None,
        sinks: list[str] | None = None,
        report_task_id: str | None = None,
        expected_version: int | None = None,
        storage_conn_id: str | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        found = parse_time_doc(self, spec) if is_static(spec_params or {}) else None
        if found is not None:  # a spec without Jinja: checked now, when the DAG is parsed
            parse_for(self, found[0], {k: str(v) for k, v in (spec_params or {}).items()} or None, found[1])
        self.spec = spec
        self.spec_params = spec_params
        self.sinks = sinks
        self.report_task_id = report_task_id
        self.expected_version = expected_version
        self.storage_conn_id = storage_conn_id
        self.deferrable = deferrable

    def watched(self, context: Context) -> list[WatchedSink]:
        doc = json.loads(self.spec) if isinstance(self.spec, str) else self.spec
        spec = parse_for(self, doc, self.spec_params)
        report_sinks: dict[str, Any] | None = None
        if self.report_task_id:
            report = context["ti"].xcom_pull(task_ids=self.report_task_id)
            if not isinstance(report, dict):
                raise AirflowException(f"task {self.report_task_id!r} pushed no fan-out run report")
            report_sinks = report.get("sinks", {})
        elif self.expected_version is None and spec.run.mode != "batch":
            raise AirflowException("set report_task_id or expected_version to watch a stream spec")
        out = []
        for sink in spec.sinks:
            if self.sinks is not None and sink.name not in self.sinks:
                continue
            if sink.path is None:
                raise AirflowException(f"sink {sink.name!r} is a catalog table: the sensor needs sink paths")
            if report_sinks is not None:
                if sink.name not in report_sinks:
                    continue  # the run wrote no batch: nothing to wait for
                # the report has the exact version, also for a view (an upstream table version)
                expected = int(report_sinks[sink.name]["txn_version"])
                out.append(WatchedSink(sink.name, sink.path, sink_app_id(spec, sink), expected))
            else:
                expected = int(self.expected_version) if self.expected_version is not None else 0
                try:
                    out.append(watch(spec, sink, expected))
                except ValueError as exc:
                    raise AirflowException(str(exc)) from exc
        return out

    def storage_options(self) -> dict[str, str] | None:
        return storage_options(self.storage_conn_id)

    def poke(self, context: Context) -> bool:
        watched, options = self.watched(context), self.storage_options()
        behind = lagging(watched, options)
        for line in behind:
            self.log.info("waiting: %s", line)
        if not behind:
            self._log_confirmed(confirmed(watched, options))
        return not behind

    def _log_confirmed(self, lines: list[str]) -> None:
        if not lines:
            self.log.info("confirmed: nothing to wait for (the run wrote no batch)")
        for line in lines:
            self.log.info("confirmed: %s", line)

    def execute(self, context: Context) -> None:
        if not self.deferrable:
            try:
                super().execute(context)
            except AirflowSensorTimeout as exc:
                behind = lagging(self.watched(context), self.storage_options())
                raise AirflowSensorTimeout(self._timeout_message(behind)) from exc
            return
        watched, options = self.watched(context), self.storage_options()
        if not lagging(watched, options):  # already committed: no need to defer
            self._log_confirmed(confirmed(watched, options))
            return
        self.defer(
            trigger=DeltaTxnTrigger(
                [w.to_dict() for w in watched],
                float(self.poke_interval),
                end_time=time.time() + float(self.timeout),
                storage_conn_id=self.storage_conn_id,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout)) + timedelta(seconds=60),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> None:
        if event.get("status") == "success":
            self._log_confirmed(list(event.get("confirmed", [])))
            return
        if event.get("status") == "timeout":
            raise AirflowSensorTimeout(self._timeout_message(event.get("lagging", [])))
        raise AirflowException(f"reading the Delta logs failed: {event.get('message')}")

    def _timeout_message(self, behind: list[str]) -> str:
        return f"timed out after {self.timeout}s waiting for {len(behind)} sink(s): " + "; ".join(behind)
