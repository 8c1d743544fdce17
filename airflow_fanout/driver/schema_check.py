"""Explain a schema mismatch between a sink's rows and its table in the user's terms: the column
and both types, and what to set when the batch brings new columns."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from airflow_fanout.driver.tables import read_table
from airflow_fanout.spec.model import SinkSpec


def schema_differences(table: StructType, batch: StructType) -> list[str]:
    """One line per column whose type differs, or that the batch has and the table has not."""
    table_types = {f.name.lower(): f.dataType.simpleString() for f in table.fields}
    out = []
    for field in batch.fields:
        if field.name.startswith("__fanout"):
            continue
        known = table_types.get(field.name.lower())
        batch_type = field.dataType.simpleString()
        if known is None:
            out.append(f"column {field.name!r} ({batch_type}) is not in the table (set merge_schema: true to add it)")
        elif known != batch_type:
            out.append(f"column {field.name!r}: the table has {known}, the batch has {batch_type}")
    return out


def explain_mismatch(session: SparkSession, sink: SinkSpec, rows: DataFrame) -> str | None:
    """The differences between ``rows`` and the sink's existing table, or None if there are none
    (or the table cannot be read)."""
    try:
        table = read_table(session, sink.ref).schema
    except Exception:
        return None
    lines = schema_differences(table, rows.schema)
    return "; ".join(lines) if lines else None
