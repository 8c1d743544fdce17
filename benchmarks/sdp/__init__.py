"""Workload A as an Apache Spark Declarative Pipeline (SDP, ``pyspark.pipelines``, Spark 4.1+).

:mod:`benchmarks.sdp.project` writes one pipeline project per run (a ``spark-pipeline.yml`` spec,
a generated Python definitions file, a ``spark-defaults.conf``); :mod:`benchmarks.fanout_sdp`
runs it with ``spark-pipelines run`` and documents what SDP can and cannot express of the
workload."""

from __future__ import annotations

from benchmarks.sdp.project import (
    PIPELINE_NAME,
    RoutesFrom,
    definitions_source,
    sdp_confs,
    spec_source,
    write_spark_defaults,
)

__all__ = [
    "PIPELINE_NAME",
    "RoutesFrom",
    "definitions_source",
    "sdp_confs",
    "spec_source",
    "write_spark_defaults",
]
