"""Parsing of Delta log files for the driver's table states (no Spark)."""

from __future__ import annotations

import json

from airflow_fanout.driver.delta_log import parse_commit, txns_from_checksum

COMMIT = "\n".join(
    json.dumps(action)
    for action in [
        {
            "commitInfo": {
                "operation": "MERGE",
                "operationMetrics": {"numTargetRowsInserted": "3", "numTargetRowsUpdated": "2", "executionTimeMs": "x"},
            }
        },
        {"txn": {"appId": "shop.silver", "version": 7, "lastUpdated": 1}},
        {"add": {"path": "part-0.parquet", "size": 10}},
        {"txn": {"appId": "other.sink", "version": 2}},
    ]
)


def test_commit_gives_operation_numeric_metrics_and_txns() -> None:
    commit = parse_commit(4, COMMIT)
    assert commit.version == 4
    assert commit.operation == "MERGE"
    assert commit.metrics == {"numTargetRowsInserted": 3, "numTargetRowsUpdated": 2}
    assert commit.txns == {"shop.silver": 7, "other.sink": 2}


def test_commit_without_commit_info_is_unknown() -> None:
    commit = parse_commit(0, json.dumps({"add": {"path": "a"}}))
    assert (commit.operation, commit.metrics, commit.txns) == ("UNKNOWN", {}, {})


def test_checksum_lists_txns_or_says_it_does_not() -> None:
    listed = {"tableSizeBytes": 1, "setTransactions": [{"appId": "a.b", "version": 3, "lastUpdated": 9}]}
    assert txns_from_checksum(json.dumps(listed)) == {"a.b": 3}
    assert txns_from_checksum(json.dumps({"tableSizeBytes": 1, "setTransactions": []})) == {}
    assert txns_from_checksum(json.dumps({"tableSizeBytes": 1})) is None
