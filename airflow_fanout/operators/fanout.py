"""Operators that submit the fan-out driver: the generic one, a backfill slice, a stream run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from airflow.sdk import Asset, BaseOperator, Context

from airflow_fanout.driver.report import RunReport
from airflow_fanout.hooks.fanout import FanOutHook, mask_spec_secrets
from airflow_fanout.operators.links import SPARK_APP_XCOM, FanOutTablesLink, SparkUILink, task_report_dir
from airflow_fanout.operators.spec_source import is_static, parse_for, parse_time_doc, where
from airflow_fanout.spec.model import FanOutSpec
from airflow_fanout.spec.validate import parse_spec
from airflow_fanout.status import format_table
from airflow_fanout.submit import check_submit_options


def sink_assets(spec: FanOutSpec) -> list[Asset]:
    """One Asset per sink table: ``file://`` URIs for local paths, the path's own URI otherwise."""
    assets = []
    for sink in spec.sinks:
        if sink.path is not None:
            uri = sink.path if "://" in sink.path else f"file://{sink.path}"
        else:
            uri = f"delta-table://{sink.table}"
        assets.append(Asset(uri=uri, name=f"{spec.app_id}.{sink.name}"))
    return assets


def sink_table(report: dict[str, Any]) -> str:
    """The closing table of a run, one row per sink: what it did over the run's batches."""
    rows = [
        [
            "sink",
            "batches",
            "inserted",
            "updated",
            "deleted",
            "dead-lettered",
            "version",
            "txn app id @ version",
            "seconds",
        ]
    ]
    for name, t in report.get("sinks", {}).items():
        batches = f"{t.get('batches_written', 0)} written"
        if t.get("batches_skipped"):
            batches += f", {t['batches_skipped']} skipped"
        rows.append(
            [
                name,
                batches,
                str(t.get("rows_inserted", t.get("rows_written", 0))),
                str(t.get("rows_updated", 0)),
                str(t.get("rows_deleted", 0)),
                str(t.get("rows_dead_lettered", "-")),
                str(t.get("table_version")),
                f"{t.get('txn_app_id')} @ {t.get('txn_version')}",
                f"{t.get('duration_s', 0):.1f}",
            ]
        )
    return format_table(rows)


class FanOutSubmitOperator(BaseOperator):
    """Run a fan-out spec with the driver, through ``spark-submit``.

    :param spec: the spec as a dict, or the path of a ``.json`` spec file (templated: Jinja runs
        inside every string value, or over the file's text).
    :param spec_params: values for the spec's ``:name`` parameters (templated); they override
        the spec's ``params`` defaults and are bound as literals, never pasted into SQL.
    :param conn_id: the Spark connection (default ``spark_default``).
    :param delta_packages: add the Delta jars and SQL confs (default True).
    :param conf: extra Spark confs (templated).
    :param spark_log_level: Spark's own log level in the task log (default:
        ``$FANOUT_SPARK_LOG_LEVEL``, else ``WARN``). The driver's lines keep their own levels.
    :param storage_conn_id: an Airflow connection (``aws``, ``wasb``/``adls``,
        ``google_cloud_platform``) whose credentials and endpoint the run's Spark gets as Hadoop
        confs (``spark.hadoop.fs.s3a.*`` ...; masked in the log; ``conf`` wins). A spec with
        ``s3a://`` paths also gets the S3A connector's jars.
    :param submit_options: ``SparkSubmitHook`` settings passed through (templated; e.g.
        ``{"deploy_mode": "cluster", "executor_memory": "4g", "num_executors": 8,
        "yarn_queue": "etl", "keytab": ..., "principal": ...}``; the full list is
        ``airflow_fanout.submit.SUBMIT_OPTIONS`` plus ``spark_binary``). An unknown key fails when
        the DAG is parsed.
    :param spark_history_url: a Spark history server (``http://host:18080``) for the "Spark UI"
        link once the run is over (default: ``spark.yarn.historyServer.address`` from ``conf``;
        without either, the link is the live UI while the driver runs).

    The task's return value (its XCom) is small: status, per-sink totals (rows inserted, updated,
    deleted, table version, txn app id and version), batch ids, the Spark application, and
    ``report``, the path of the whole run report. With a local checkpoint that report is kept
    under ``<checkpoint>/_fanout/reports/airflow/<dag>/<run>/<task>/`` and covers every attempt
    of the task (a batch a killed attempt committed is reported, marked with that attempt). Each
    sink table the run changed gets an Asset event whose ``extra`` says what changed; a sink that
    wrote nothing gets none. A static spec (a dict, or a ``.json`` file, without Jinja) is
    validated when the DAG is parsed (no Spark import); every spec is validated again before the
    run.
    """

    template_fields: Sequence[str] = ("spec", "spec_params", "conf", "submit_options")
    template_ext: Sequence[str] = (".json",)
    ui_color = "#d5f0e3"
    operator_extra_links = (SparkUILink(), FanOutTablesLink())

    def __init__(
        self,
        *,
        spec: dict[str, Any] | str,
        spec_params: dict[str, Any] | None = None,
        conn_id: str = FanOutHook.default_conn_name,
        delta_packages: bool = True,
        conf: dict[str, str] | None = None,
        spark_log_level: str | None = None,
        spark_history_url: str | None = None,
        storage_conn_id: str | None = None,
        submit_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        outlets_given = "outlets" in kwargs
        super().__init__(**kwargs)  # first: the task's DAG locates a spec file and names errors
        self.spec = spec
        self.spec_params = spec_params
        self.conn_id = conn_id
        self.delta_packages = delta_packages
        self.conf = conf
        self.spark_log_level = spark_log_level
        self.spark_history_url = spark_history_url
        self.storage_conn_id = storage_conn_id
        self.submit_options = submit_options
        check_submit_options(submit_options or {})  # a wrong key fails when the DAG is parsed
        self._hook: FanOutHook | None = None
        found = parse_time_doc(self, spec) if is_static(spec_params or {}) else None
        if found is not None:  # a spec without Jinja: checked now, when the DAG is parsed
            doc, file = found
            checked = self.checked(parse_for(self, doc, self.parse_time_params(spec_params), file))
            if not outlets_given:
                self.add_outlets(sink_assets(checked))
            if isinstance(doc, dict):  # credentials in the DAG's files: masked when serialized
                mask_spec_secrets(doc, conf)
        elif isinstance(spec, dict):
            mask_spec_secrets(spec, conf)

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """Render, then register the rendered credentials with Airflow's secrets masker before
        the rendered fields are stored (the UI's "Rendered Template" view) or anything is logged."""
        super().render_template_fields(context, jinja_env)
        try:
            doc = self.rendered_spec()
        except ValueError:  # not JSON (yet): execute() reports it
            return
        mask_spec_secrets(doc, self.conf)

    def check_spec(self, spec: FanOutSpec) -> FanOutSpec:
        """A flavour's extra rule on the spec (the generic operator accepts any valid spec)."""
        return spec

    def checked(self, spec: FanOutSpec) -> FanOutSpec:
        """``check_spec``, its error naming the DAG and the task."""
        try:
            return self.check_spec(spec)
        except ValueError as exc:
            raise ValueError(f"{where(self)}: {exc}") from None

    def parse_time_params(self, spec_params: dict[str, Any] | None) -> dict[str, Any]:
        """Params to validate a static spec with when the DAG is parsed."""
        return dict(spec_params or {})

    def rendered_spec(self) -> dict[str, Any]:
        doc = json.loads(self.spec) if isinstance(self.spec, str) else dict(self.spec)
        if self.spec_params:
            doc["params"] = {**doc.get("params", {}), **self.spec_params}
        return doc

    def execute(self, context: Context) -> dict[str, Any]:
        doc = self.rendered_spec()
        spec = self.checked(parse_for(self, doc))
        self._hook = FanOutHook(
            self.conn_id,
            delta_packages=self.delta_packages,
            conf=self.conf,
            name=f"fanout-{spec.app_id}",
            spark_log_level=self.spark_log_level,
            storage_conn_id=self.storage_conn_id,
            submit_options=self.submit_options,
        )
        ti = context.get("ti")
        report = self._hook.run(
            doc,
            report_dir=task_report_dir(spec, ti),
            attempt=int(getattr(ti, "try_number", 1) or 1),
            on_spark_app=lambda app: self._record_spark_app(ti, app),
        )
        run = RunReport.from_dict(report)
        self.log.info("fan-out run of %s: %d batch(es)\n%s", spec.app_id, len(run.batches), sink_table(report))
        self._announce_assets(context, spec, run)
        # XCom gets the outcome and the totals; every batch's detail stays in the report file
        return run.summary(self._hook.report_path)

    def _record_spark_app(self, ti: Any, app: dict[str, str]) -> None:
        """The run's Spark application, pushed as soon as it starts (the "Spark UI" link)."""
        history = (self.conf or {}).get("spark.yarn.historyServer.address") or self.spark_history_url
        value = {**app, "history": f"{history.rstrip('/')}/history/{app['app_id']}/" if history else ""}
        if ti is not None and hasattr(ti, "xcom_push"):
            ti.xcom_push(key=SPARK_APP_XCOM, value=value)

    def _announce_assets(self, context: Context, spec: FanOutSpec, run: RunReport) -> None:
        """One Asset event per sink table this run changed, its ``extra`` saying what changed; a
        sink whose every batch was empty or already committed gets no event (so an Asset-scheduled
        DAG does not run for nothing)."""
        changed: dict[str, dict[str, Any]] = {}
        batches: dict[str, list[int]] = {}
        for batch in run.batches:
            for result in batch.sinks:
                if result.status == "written" and any(result.row_changes()):
                    batches.setdefault(result.sink, []).append(batch.batch_id)
        for name, totals in run.sink_totals().items():
            if name in batches:
                changed[name] = {
                    "rows_inserted": totals["rows_inserted"],
                    "rows_updated": totals["rows_updated"],
                    "rows_deleted": totals["rows_deleted"],
                    "table_version": totals.get("table_version"),
                    "txn_app_id": totals.get("txn_app_id"),
                    "txn_version": totals.get("txn_version"),
                    "batch_ids": batches[name],
                    "run_report": self._hook.report_path if self._hook is not None else None,
                }
        ours = {f"{spec.app_id}.{s.name}": s.name for s in spec.sinks}
        events = context.get("outlet_events")
        kept = []
        for outlet in self.outlets:
            sink = ours.get(getattr(outlet, "name", ""))
            if sink is None:
                kept.append(outlet)  # the DAG author's own outlets
            elif sink in changed:
                kept.append(outlet)
                if events is not None:
                    events[outlet].extra = changed[sink]
        self.outlets = kept

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the source as the input dataset, each sink table as an output dataset."""
        from airflow_fanout.operators.lineage import operator_lineage

        return operator_lineage(parse_spec(self.rendered_spec()))

    def on_kill(self) -> None:
        if self._hook is not None:
            self._hook.on_kill()


class FanOutBackfillOperator(FanOutSubmitOperator):
    """Write one backfill slice (e.g. one logical date) of a ``batch`` spec.

    :param slice_key: the slice (templated; default ``{{ ds }}``), passed as the spec parameter
        ``slice_param`` so the spec's ``run.slice`` can say ``"key": ":ds"`` and
        ``"where": "event_date = CAST(:ds AS DATE)"``. Txn app ids include the slice, so dates can
        run out of order or in parallel; rerunning a date replaces it.
    :param slice_param: the parameter name that carries the slice key (default ``ds``).
    """

    template_fields: Sequence[str] = (*FanOutSubmitOperator.template_fields, "slice_key")

    def __init__(self, *, slice_key: str = "{{ ds }}", slice_param: str = "ds", **kwargs: Any) -> None:
        self.slice_key = slice_key
        self.slice_param = slice_param
        super().__init__(**kwargs)

    def parse_time_params(self, spec_params: dict[str, Any] | None) -> dict[str, Any]:
        # The slice key is usually a template ({{ ds }}): validate with a stand-in key.
        key = self.slice_key if is_static(self.slice_key) else "parse-time-check"
        return {**(spec_params or {}), self.slice_param: key}

    def rendered_spec(self) -> dict[str, Any]:
        doc = super().rendered_spec()
        doc["params"] = {**doc.get("params", {}), self.slice_param: self.slice_key}
        return doc

    def check_spec(self, spec: FanOutSpec) -> FanOutSpec:
        if spec.run.mode != "batch":
            raise ValueError(f"{type(self).__name__} needs a spec with run.mode 'batch', not {spec.run.mode!r}")
        return spec


class FanOutAvailableNowOperator(FanOutSubmitOperator):
    """Run a ``stream`` spec with the ``available_now`` trigger: process everything that landed
    since the last run, then stop. Fails at parse (static specs) and at execute otherwise."""

    def check_spec(self, spec: FanOutSpec) -> FanOutSpec:
        if spec.run.mode != "stream" or spec.run.trigger.kind != "available_now":
            raise ValueError(
                f"{type(self).__name__} needs run.mode 'stream' with trigger {{'available_now': true}}; "
                f"the spec has mode {spec.run.mode!r}, trigger {spec.run.trigger.kind!r}"
            )
        return spec
