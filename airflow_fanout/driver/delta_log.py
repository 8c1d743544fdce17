"""What a Delta table has recorded: its version, its txn versions per app id, its last commit.

Reads go through the Delta log the session already caches (the JVM ``DeltaLog``), so checking a
sink before writing it costs a log update, not a Spark job over data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession

from airflow_fanout.driver.tables import delta_table
from airflow_fanout.spec.model import TableRef


@dataclass(frozen=True)
class TableState:
    """A Delta table as the driver sees it before a write."""

    exists: bool
    version: int | None = None
    txn_versions: dict[str, int] = field(default_factory=dict)

    def txn_version(self, app_id: str) -> int | None:
        return self.txn_versions.get(app_id)


@dataclass(frozen=True)
class CommitInfo:
    version: int
    operation: str
    metrics: dict[str, int]


def table_location(spark: SparkSession, ref: TableRef) -> str | None:
    """The storage path of ``ref``; for a catalog table, None until the table exists."""
    if ref.path is not None:
        return ref.path
    assert ref.table is not None
    if not spark.catalog.tableExists(ref.table):
        return None
    row = spark.sql(f"DESCRIBE DETAIL {ref.table}").select("location").first()
    return str(row[0]) if row else None


def _delta_log(spark: SparkSession, path: str) -> Any:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    return jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)


def _fresh_snapshot(spark: SparkSession, path: str) -> Any:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    none = jvm.scala.Option.empty()
    return _delta_log(spark, path).update(False, none, none)


def read_table_state(spark: SparkSession, ref: TableRef) -> TableState:
    """Version and txn versions of the table behind ``ref`` (``exists=False`` if there is none)."""
    path = table_location(spark, ref)
    if path is None:
        return TableState(exists=False)
    snapshot = _fresh_snapshot(spark, path)
    version = int(snapshot.version())
    if version < 0:
        return TableState(exists=False)
    txns: dict[str, int] = {}
    iterator = snapshot.transactions().iterator()
    while iterator.hasNext():
        entry = iterator.next()
        txns[str(entry._1())] = int(entry._2())
    return TableState(exists=True, version=version, txn_versions=txns)


def read_commit(spark: SparkSession, ref: TableRef, version: int) -> CommitInfo:
    """Operation and metrics of commit ``version`` of the table behind ``ref``."""

    history = (
        delta_table(spark, ref)
        .history(8)
        .where(f"version = {int(version)}")
        .select("operation", "operationMetrics")
        .first()
    )
    if history is None:
        return CommitInfo(version=version, operation="UNKNOWN", metrics={})
    metrics = {k: int(v) for k, v in (history["operationMetrics"] or {}).items() if str(v).lstrip("-").isdigit()}
    return CommitInfo(version=version, operation=str(history["operation"]), metrics=metrics)
