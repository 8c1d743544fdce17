"""The medallion spec: bronze (raw append), silver (the latest valid version of each event, by
event time; invalid rows to the dead letters), gold (5-minute revenue per event type: a view of
silver, kept equal to the aggregate over the silver table from silver's changes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_fanout.sample_data import EVENT_SCHEMA

SINKS_FROM_ROOT = ("bronze", "silver", "gold")


def lake_root(root: str | Path) -> str:
    """``root`` as the specs name it: an object-store URL as is (``s3a://lake/shop``), a local
    folder made absolute."""
    return str(root).rstrip("/") if "://" in str(root) else str(Path(root).resolve())


def medallion_sinks(lake: str) -> list[dict[str, Any]]:
    return [
        {
            "name": "bronze",
            "path": f"{lake}/bronze/events",
            "mode": "append",
            "columns": {"_ingested_at": "current_timestamp()"},
        },
        {
            "name": "silver",
            "path": f"{lake}/silver/events",
            "mode": "merge",
            "expect": [
                {"name": "has_id", "check": "event_id IS NOT NULL"},
                {"name": "amount_not_negative", "check": "amount >= 0"},
            ],
            # a re-sent or corrected event that arrives late never overwrites a newer version
            "merge": {"keys": ["event_id"], "sequence_by": ["event_time", "amount"]},
        },
        {
            "name": "gold",
            "from": "silver",
            "path": f"{lake}/gold/revenue_5min",
            "mode": "merge",
            "aggregate": {
                "window": {"column": "event_time", "duration": "5 minutes"},
                "group_by": ["event_type"],
                "measures": {"events": "count(*)", "revenue": "sum(amount)"},
            },
        },
    ]


def medallion_stream_spec(root: str | Path, *, files_per_batch: int = 1) -> dict[str, Any]:
    """A streaming (``available_now``) medallion spec over ``<root>/landing`` JSON files."""
    lake = lake_root(root)
    return {
        "version": 1,
        "app_id": "shop_events",
        "description": "landing JSON events -> bronze, silver, gold",
        "source": {
            "format": "json",
            "path": f"{lake}/landing",
            "schema": EVENT_SCHEMA,
            "options": {"maxFilesPerTrigger": files_per_batch},
        },
        "run": {
            "mode": "stream",
            "trigger": {"available_now": True},
            "checkpoint": f"{lake}/_checkpoints/shop_events",
            "max_parallel_sinks": 4,
        },
        "sinks": medallion_sinks(lake),
        "dead_letter": {"path": f"{lake}/errors/dead_letter"},
    }


def medallion_backfill_spec(root: str | Path, ds: str = "2026-11-01") -> dict[str, Any]:
    """The same tables written one day (slice ``:ds``) at a time, e.g. by a daily backfill."""
    lake = lake_root(root)
    return {
        "version": 1,
        "app_id": "shop_backfill",
        "params": {"ds": ds},
        "source": {"format": "json", "path": f"{lake}/landing", "schema": EVENT_SCHEMA},
        "run": {
            "mode": "batch",
            "checkpoint": f"{lake}/_checkpoints/shop_backfill",
            "slice": {"key": ":ds", "where": "event_date = CAST(:ds AS DATE)"},
        },
        "sinks": medallion_sinks(lake),
        "dead_letter": {"path": f"{lake}/errors/dead_letter"},
    }


def example_lake() -> str:
    """Where the example DAGs keep their lake: ``$FANOUT_LAKE``, else ``/tmp/airflow-fanout/lake``."""
    import os

    return os.environ.get("FANOUT_LAKE", "/tmp/airflow-fanout/lake")


def example_storage_conn_id() -> str | None:
    """The Airflow connection with the lake's credentials when it is in an object store:
    ``$FANOUT_STORAGE_CONN_ID`` (e.g. an ``aws`` connection ``lake_s3``), else none (a local lake,
    or credentials from the environment and Spark's own configuration)."""
    import os

    return os.environ.get("FANOUT_STORAGE_CONN_ID") or None


def backfill_dag_spec(lake: str) -> dict[str, Any]:
    """The spec of the backfill example DAG (and of the DAG that waits for it): its own tables
    under ``<lake>/backfill`` (the streaming example owns ``<lake>/bronze`` ...), reading the
    shared ``<lake>/landing``."""
    spec = medallion_backfill_spec(f"{lake}/backfill")
    spec["source"]["path"] = f"{lake}/landing"
    return spec


def sink_path(spec: dict[str, Any], name: str) -> str:
    return str(next(s["path"] for s in spec["sinks"] if s["name"] == name))
