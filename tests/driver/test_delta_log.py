"""The driver's log reader agrees with Delta's own state reconstruction, across checkpoints,
without checksum files, and notices a table replaced under it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from airflow_fanout.driver.delta_log import DeltaLogReader, _scala_txns
from airflow_fanout.driver.tables import txn_writer
from airflow_fanout.spec.model import TableRef

pytestmark = pytest.mark.spark


def delta_txns(spark: Any, path: str) -> dict[str, int]:
    log = spark.sparkContext._jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)
    none = spark.sparkContext._jvm.scala.Option.empty()
    return _scala_txns(log.update(False, none, none))


def test_incremental_reads_match_delta_across_a_checkpoint(spark: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    ref = TableRef(path=path)
    reader = DeltaLogReader(spark)
    assert not reader.state(ref).exists
    rows = spark.range(3)
    for version in range(12):  # Delta checkpoints at version 10
        txn_writer(rows, "append", f"app.sink{version % 3}", version).save(path)
        state = reader.state(ref)
        assert state.version == version
        assert state.txn_versions == delta_txns(spark, path)
    assert (tmp_path / "t" / "_delta_log" / "00000000000000000010.checkpoint.parquet").exists()
    assert reader.state(ref).txn_versions == {"app.sink0": 9, "app.sink1": 10, "app.sink2": 11}
    # A skipped replay commits nothing: the reader sees the same version.
    txn_writer(rows, "append", "app.sink2", 11).save(path)
    assert reader.state(ref).version == 11
    commits = reader.commits(ref, 10, 11)
    assert [(c.version, c.operation, c.txns) for c in commits] == [
        (10, "WRITE", {"app.sink1": 10}),
        (11, "WRITE", {"app.sink2": 11}),
    ]
    assert commits[1].metrics["numOutputRows"] == 3


def test_first_read_without_checksum_files_falls_back_to_delta(spark: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    for version in range(3):
        txn_writer(spark.range(1), "append", "a.b", version).save(path)
    for crc in (tmp_path / "t" / "_delta_log").glob("*.crc"):
        crc.unlink()
    assert DeltaLogReader(spark).state(TableRef(path=path)).txn_versions == {"a.b": 2}


def test_replaced_table_gets_a_new_identity(spark: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    ref = TableRef(path=path)
    reader = DeltaLogReader(spark)
    txn_writer(spark.range(1), "append", "a.b", 5).save(path)
    first = reader.state(ref)
    shutil.rmtree(path)
    assert not reader.state(ref).exists
    assert reader.known(ref) == first
    txn_writer(spark.range(1), "append", "x.y", 0).save(path)
    again = reader.state(ref)
    assert again.table_id != first.table_id
    assert again.txn_versions == {"x.y": 0}
