"""The fan-out spec: pure data and validation. Imports neither pyspark nor airflow."""

from airflow_fanout.spec.model import (
    AggregateSpec,
    DedupeSpec,
    FanOutSpec,
    MergeSpec,
    RunSpec,
    SinkSpec,
    SliceSpec,
    SourceSpec,
    TableRef,
    TombstoneSpec,
    Trigger,
)
from airflow_fanout.spec.naming import txn_app_id
from airflow_fanout.spec.validate import load_spec_file, parse_spec, validate_spec

__all__ = [
    "AggregateSpec",
    "DedupeSpec",
    "FanOutSpec",
    "MergeSpec",
    "RunSpec",
    "SinkSpec",
    "SliceSpec",
    "SourceSpec",
    "TableRef",
    "TombstoneSpec",
    "Trigger",
    "load_spec_file",
    "parse_spec",
    "txn_app_id",
    "validate_spec",
]
