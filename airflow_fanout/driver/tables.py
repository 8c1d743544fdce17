"""A Delta table named by a ``TableRef`` (a storage path or a catalog name): read it, open it for
MERGE, write to it with a transaction id. One place for the path-or-table choice."""

from __future__ import annotations

from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, DataFrameWriter, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, DateType, NumericType, StringType, TimestampNTZType, TimestampType

from airflow_fanout.spec.model import SinkSpec, TableRef
from airflow_fanout.spec.params import sql_literal


def delta_table(session: SparkSession, ref: TableRef) -> DeltaTable:
    if ref.path is not None:
        return DeltaTable.forPath(session, ref.path)
    return DeltaTable.forName(session, ref.table or "")


def table_exists(session: SparkSession, ref: TableRef) -> bool:
    if ref.path is not None:
        return bool(DeltaTable.isDeltaTable(session, ref.path))
    return bool(session.catalog.tableExists(ref.table or ""))


def read_table(session: SparkSession, ref: TableRef) -> DataFrame:
    if ref.path is not None:
        return session.read.format("delta").load(ref.path)
    return session.read.table(ref.table or "")


#: Table property of a table that records its changes (its Change Data Feed), which views read.
FEED_PROPERTY = "delta.enableChangeDataFeed"


def txn_writer(
    frame: DataFrame, mode: str, txn_app_id: str, txn_version: int, *, record_changes: bool = False
) -> DataFrameWriter:
    """A Delta writer whose commit carries ``(txn_app_id, txn_version)``: Delta skips it when the
    table already recorded that version or a later one for the app id. ``record_changes``: a
    table this write creates records its changes (Delta ignores the option on existing tables)."""
    writer = (
        frame.write.format("delta").mode(mode).option("txnAppId", txn_app_id).option("txnVersion", str(txn_version))
    )
    return writer.option(FEED_PROPERTY, "true") if record_changes else writer


def replace_whole(
    frame: DataFrame,
    sink: SinkSpec,
    txn_app_id: str,
    txn_version: int,
    *,
    exists: bool,
    record_changes: bool = False,
) -> None:
    """Write ``frame`` as the whole table of ``sink`` (a view's first write or rebuild): one
    commit with the txn id, replacing the table and its schema when it exists."""
    writer = txn_writer(
        frame, "overwrite" if exists else "append", txn_app_id, txn_version, record_changes=record_changes
    )
    writer = writer.options(**sink.options).option("overwriteSchema", "true")
    if sink.partition_by:
        writer = writer.partitionBy(*sink.partition_by)
    save(writer, sink.ref)


def save(writer: DataFrameWriter, ref: TableRef) -> None:
    if ref.path is not None:
        writer.save(ref.path)
    else:
        writer.saveAsTable(ref.table or "")


def _orderable(data_type: DataType) -> bool:
    return isinstance(data_type, NumericType | StringType | DateType | TimestampType | TimestampNTZType)


def merge_condition(source: DataFrame, keys: list[str] | tuple[str, ...], target: str = "t", alias: str = "s") -> str:
    """The MERGE join on ``keys`` (null-safe), plus, per key, the range of the source's keys as a
    predicate on the target alone: Delta skips the target files outside it (file statistics)
    instead of reading the whole target to find the matches. Costs one small aggregate of the
    source; a key the source has a null for, or of a type without order, gets no range."""
    join = " AND ".join(f"{target}.`{k}` <=> {alias}.`{k}`" for k in keys)
    ranged = [k for k in keys if _orderable(source.schema[k].dataType)]
    if not ranged:
        return join
    bounds: list[Column] = []
    for k in ranged:
        column, data_type = F.col(f"`{k}`"), source.schema[k].dataType
        if isinstance(data_type, TimestampType | TimestampNTZType):
            column = F.unix_micros(column.cast("timestamp"))
        elif isinstance(data_type, DateType):
            column = F.unix_date(column)
        bounds += [F.min(column), F.max(column), F.max(F.col(f"`{k}`").isNull().cast("int"))]
    row = source.agg(*bounds).first()
    if row is None or (row[0] is None and row[1] is None):
        return join  # no source rows (or only null keys): nothing to narrow
    ranges = []
    for i, k in enumerate(ranged):
        low, high, has_null = row[3 * i], row[3 * i + 1], row[3 * i + 2]
        if has_null or low is None:
            continue
        data_type = source.schema[k].dataType
        ranges.append(f"{target}.`{k}` BETWEEN {_literal(low, data_type)} AND {_literal(high, data_type)}")
    return " AND ".join([join, *ranges])


def _literal(value: Any, data_type: DataType) -> str:
    """A bound as SQL text (times as micro/days since the epoch: no time zone in between)."""
    if isinstance(data_type, TimestampNTZType):
        return f"CAST(timestamp_micros({int(value)}) AS TIMESTAMP_NTZ)"
    if isinstance(data_type, TimestampType):
        return f"timestamp_micros({int(value)})"
    if isinstance(data_type, DateType):
        return f"date_from_unix_date({int(value)})"
    if isinstance(data_type, StringType):
        return sql_literal(str(value))
    return f"CAST('{value}' AS {data_type.simpleString()})"
