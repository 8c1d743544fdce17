"""Read the spec's one source: as a stream (for foreachBatch) or as one batch slice."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from airflow_fanout.driver.transforms import filter_with_params
from airflow_fanout.spec.model import FanOutSpec, SourceSpec

_FILE_FORMATS = ("json", "parquet", "csv")


def read_stream(spark: SparkSession, source: SourceSpec) -> DataFrame:
    """The source as a streaming DataFrame (before ``source.where``, applied per batch)."""
    reader = spark.readStream.options(**source.options)
    if source.schema is not None and source.format in _FILE_FORMATS:
        reader = reader.schema(source.schema)
    if source.format == "table":
        return reader.table(source.table or "")
    if source.format == "rate":
        return reader.format("rate").load()
    reader = reader.format(source.format)
    return reader.table(source.table) if source.table is not None else reader.load(source.path)


def read_slice(spark: SparkSession, spec: FanOutSpec) -> DataFrame:
    """The source rows of the spec's slice (``source.where`` and ``run.slice.where`` applied)."""
    source = spec.source
    reader = spark.read.options(**source.options)
    if source.schema is not None and source.format in _FILE_FORMATS:
        reader = reader.schema(source.schema)
    if source.format == "table" or (source.table is not None and source.format == "delta"):
        frame = spark.read.options(**source.options).table(source.table or "")
    else:
        frame = reader.format(source.format).load(source.path)
    frame = apply_source_where(frame, spec)
    assert spec.run.slice is not None
    return filter_with_params(frame, spec.run.slice.where, spec.params)


def apply_source_where(frame: DataFrame, spec: FanOutSpec) -> DataFrame:
    if spec.source.where is None:
        return frame
    return filter_with_params(frame, spec.source.where, spec.params)
