"""OpenLineage datasets of a spec: the source as input, every sink table as output."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from airflow_fanout.spec.model import FanOutSpec


def dataset_name(path: str | None, table: str | None) -> tuple[str, str]:
    """(namespace, name) following OpenLineage's naming: ``file`` + absolute path for local
    paths, ``<scheme>://<authority>`` + path for object stores, ``spark_catalog`` + name for tables."""
    if path is None:
        return "spark_catalog", str(table)
    parsed = urlparse(path)
    if parsed.scheme in ("", "file"):
        return "file", parsed.path if parsed.scheme else path
    return f"{parsed.scheme}://{parsed.netloc}", parsed.path.lstrip("/")


def operator_lineage(spec: FanOutSpec) -> Any:
    """An ``OperatorLineage`` for ``spec`` (needs apache-airflow-providers-openlineage)."""
    from airflow.providers.common.compat.openlineage.facet import Dataset
    from airflow.providers.openlineage.extractors import OperatorLineage

    inputs = []
    if spec.source.format != "rate":
        inputs.append(Dataset(*dataset_name(spec.source.path, spec.source.table)))
    outputs = [Dataset(*dataset_name(s.path, s.table)) for s in spec.sinks]
    return OperatorLineage(inputs=inputs, outputs=outputs)
