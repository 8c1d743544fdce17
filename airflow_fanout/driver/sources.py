"""Read the spec's one source: as a stream (for foreachBatch) or as one batch slice."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from airflow_fanout.driver.transforms import filter_with_params
from airflow_fanout.spec.model import FanOutSpec, SourceSpec

_FILE_FORMATS = ("json", "parquet", "csv")
#: The column Spark fills with a record's raw text when it cannot parse it.
CORRUPT_COLUMN = "_corrupt_record"


def _file_reader_options(source: SourceSpec) -> tuple[dict[str, str], str | None]:
    """Reader options and schema, with corrupt-record handling applied."""
    options = dict(source.options)
    schema = source.schema
    if source.corrupt_records == "fail":
        options["mode"] = "FAILFAST"
    elif source.corrupt_records == "dead_letter" and schema is not None:
        options["mode"] = "PERMISSIVE"
        options["columnNameOfCorruptRecord"] = CORRUPT_COLUMN
        schema = f"{schema}, {CORRUPT_COLUMN} STRING"
    return options, schema


def read_stream(spark: SparkSession, source: SourceSpec) -> DataFrame:
    """The source as a streaming DataFrame (before ``source.where``, applied per batch)."""
    options, schema = _file_reader_options(source)
    reader = spark.readStream.options(**options)
    if schema is not None and source.format in _FILE_FORMATS:
        reader = reader.schema(schema)
    if source.format == "table":
        return reader.table(source.table or "")
    if source.format == "rate":
        return reader.format("rate").load()
    reader = reader.format(source.format)
    return reader.table(source.table) if source.table is not None else reader.load(source.path)


def read_slice(spark: SparkSession, spec: FanOutSpec) -> DataFrame:
    """The source rows the slice run reads (filters are applied by ``slice_rows``)."""
    source = spec.source
    options, schema = _file_reader_options(source)
    reader = spark.read.options(**options)
    if schema is not None and source.format in _FILE_FORMATS:
        reader = reader.schema(schema)
    if source.format == "table" or (source.table is not None and source.format == "delta"):
        frame = spark.read.options(**source.options).table(source.table or "")
    else:
        frame = reader.format(source.format).load(source.path)
    return frame


def slice_rows(frame: DataFrame, spec: FanOutSpec) -> DataFrame:
    """``source.where`` and ``run.slice.where`` applied."""
    frame = apply_source_where(frame, spec)
    assert spec.run.slice is not None
    return filter_with_params(frame, spec.run.slice.where, spec.params)


def apply_source_where(frame: DataFrame, spec: FanOutSpec) -> DataFrame:
    if spec.source.where is None:
        return frame
    return filter_with_params(frame, spec.source.where, spec.params)
