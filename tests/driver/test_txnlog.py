"""The JVM-free txn reader against tables Spark wrote: classic, multi-part and v2 checkpoints, a
missing ``_last_checkpoint``, no table, not a table. deltalake is the reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from airflow_fanout.txnlog import NotADeltaTableError, read_txn_log

pytestmark = pytest.mark.spark
APPS = ("a.bronze", "a.silver", "b.gold")


def write_commits(spark: Any, path: str, commits: int) -> None:
    for i in range(commits):
        app = APPS[i % len(APPS)]
        (spark.range(2).write.format("delta").mode("append").option("txnAppId", app).option("txnVersion", i).save(path))


def assert_same_as_deltalake(path: str) -> None:
    log = read_txn_log(path)
    assert log is not None
    reference = DeltaTable(path)
    assert log.version == reference.version()
    for app in (*APPS, "never.written"):
        assert log.txn_version(app) == reference.transaction_version(app), app
    assert log.last_commit is not None


def test_classic_checkpoints_and_missing_last_checkpoint(spark: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    write_commits(spark, path, 23)  # checkpoints at versions 10 and 20
    names = {p.name for p in (tmp_path / "t" / "_delta_log").iterdir()}
    assert "00000000000000000020.checkpoint.parquet" in names
    assert_same_as_deltalake(path)
    log = read_txn_log(path)
    assert log is not None and log.txn_versions == {"a.bronze": 21, "a.silver": 22, "b.gold": 20}
    (tmp_path / "t" / "_delta_log" / "_last_checkpoint").unlink()
    assert_same_as_deltalake(path)


def test_last_checkpoint_is_only_a_hint(spark: Any, tmp_path: Path) -> None:
    """The reader narrows its listing from the version ``_last_checkpoint`` names, but must find
    the newest complete checkpoint and every later commit whatever the hint says."""
    path = str(tmp_path / "t")
    write_commits(spark, path, 23)  # checkpoints at versions 10 and 20
    assert_same_as_deltalake(path)
    # (deltalake itself fails on a hint naming a missing checkpoint: compared before the changes)
    for hint in (
        '{"version": 10, "size": 1}',  # stale: an older checkpoint (20 exists)
        '{"version": 30, "size": 1}',  # names a checkpoint that does not exist
        "not json",  # being rewritten, or garbage
    ):
        (tmp_path / "t" / "_delta_log" / "_last_checkpoint").write_text(hint)
        log = read_txn_log(path)
        assert log is not None and log.version == 22, hint
        assert log.txn_versions == {"a.bronze": 21, "a.silver": 22, "b.gold": 20}, hint


def test_multi_part_checkpoint(spark: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    spark.conf.set("spark.databricks.delta.checkpoint.partSize", "3")
    try:
        write_commits(spark, path, 12)
    finally:
        spark.conf.unset("spark.databricks.delta.checkpoint.partSize")
    names = {p.name for p in (tmp_path / "t" / "_delta_log").iterdir()}
    assert any(".checkpoint.0000000001." in n for n in names), names
    assert_same_as_deltalake(path)


def test_v2_checkpoint(spark: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    spark.sql(f"CREATE TABLE delta.`{path}` (id BIGINT) USING delta TBLPROPERTIES ('delta.checkpointPolicy' = 'v2')")
    write_commits(spark, path, 12)
    names = {p.name for p in (tmp_path / "t" / "_delta_log").iterdir()}
    assert any(n.startswith("00000000000000000010.checkpoint.") and n.count(".") == 3 for n in names), names
    log = read_txn_log(path)
    assert log is not None
    assert log.txn_versions == {"a.bronze": 9, "a.silver": 10, "b.gold": 11}
    assert log.version == 12


def test_no_table_is_not_yet_and_a_foreign_folder_is_an_error(tmp_path: Path) -> None:
    assert read_txn_log(str(tmp_path / "missing")) is None
    (tmp_path / "empty").mkdir()
    assert read_txn_log(str(tmp_path / "empty")) is None
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "data.csv").write_text("a,b\n")
    with pytest.raises(NotADeltaTableError, match="not a Delta table"):
        read_txn_log(str(tmp_path / "csv"))
