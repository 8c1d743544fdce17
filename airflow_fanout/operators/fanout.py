"""Operators that submit the fan-out driver: the generic one, a backfill slice, a stream run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from airflow.sdk import Asset, BaseOperator, Context

from airflow_fanout.hooks.fanout import FanOutHook, mask_spec_secrets
from airflow_fanout.spec.model import FanOutSpec
from airflow_fanout.spec.validate import parse_spec


def _is_static(value: Any) -> bool:
    """True when nothing in ``value`` is a Jinja template (so it can be validated at parse time)."""
    return "{{" not in json.dumps(value) and "{%" not in json.dumps(value)


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


class FanOutSubmitOperator(BaseOperator):
    """Run a fan-out spec with the driver, through ``spark-submit``.

    :param spec: the spec as a dict, or the path of a ``.json`` spec file (templated: Jinja runs
        inside every string value, or over the file's text).
    :param spec_params: values for the spec's ``:name`` parameters (templated); they override
        the spec's ``params`` defaults and are bound as literals, never pasted into SQL.
    :param conn_id: the Spark connection (default ``spark_default``).
    :param delta_packages: add the Delta jars and SQL confs (default True).
    :param conf: extra Spark confs (templated).

    The run report (per sink: rows written, table version, txn app id and version, duration) is
    the task's return value, so it lands in XCom. A static spec is validated when the DAG is parsed
    (no Spark import); every spec is validated again before the run.
    """

    template_fields: Sequence[str] = ("spec", "spec_params", "conf")
    template_ext: Sequence[str] = (".json",)
    ui_color = "#d5f0e3"

    def __init__(
        self,
        *,
        spec: dict[str, Any] | str,
        spec_params: dict[str, Any] | None = None,
        conn_id: str = FanOutHook.default_conn_name,
        delta_packages: bool = True,
        conf: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        static = isinstance(spec, dict) and _is_static(spec) and _is_static(spec_params or {})
        if static and "outlets" not in kwargs:
            assert isinstance(spec, dict)
            checked = self.check_spec(parse_spec(spec, self.parse_time_params(spec_params)))
            kwargs["outlets"] = sink_assets(checked)
        super().__init__(**kwargs)
        self.spec = spec
        self.spec_params = spec_params
        self.conn_id = conn_id
        self.delta_packages = delta_packages
        self.conf = conf
        self._hook: FanOutHook | None = None
        if isinstance(spec, dict):  # credentials written into the DAG file: masked when serialized
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
        spec = self.check_spec(parse_spec(doc))
        self._hook = FanOutHook(
            self.conn_id, delta_packages=self.delta_packages, conf=self.conf, name=f"fanout-{spec.app_id}"
        )
        report = self._hook.run(doc)
        for name, totals in report.get("sinks", {}).items():
            self.log.info(
                "sink %s: %s rows -> %s (version %s, txn %s@%s)",
                name,
                totals["rows_written"],
                totals["target"],
                totals.get("table_version"),
                totals.get("txn_app_id"),
                totals.get("txn_version"),
            )
        return report

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
        key = self.slice_key if _is_static(self.slice_key) else "parse-time-check"
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
