"""A Delta table named by a ``TableRef`` (a storage path or a catalog name): read it, open it for
MERGE, write to it with a transaction id. One place for the path-or-table choice."""

from __future__ import annotations

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, DataFrameWriter, SparkSession

from airflow_fanout.spec.model import TableRef


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


def save(writer: DataFrameWriter, ref: TableRef) -> None:
    if ref.path is not None:
        writer.save(ref.path)
    else:
        writer.saveAsTable(ref.table or "")
