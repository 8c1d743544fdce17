"""Provider metadata for Airflow's provider manager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_fanout import __version__


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-fanout",
        "name": "Fan-out to Delta Lake",
        "description": "Fan one Spark stream (or one backfill slice) out to many Delta Lake tables, "
        "exactly once, from an Airflow DAG.",
        "versions": [__version__],
        "hooks": [{"integration-name": "Delta Lake fan-out", "python-modules": ["airflow_fanout.hooks.fanout"]}],
        "operators": [
            {"integration-name": "Delta Lake fan-out", "python-modules": ["airflow_fanout.operators.fanout"]}
        ],
        "sensors": [{"integration-name": "Delta Lake fan-out", "python-modules": ["airflow_fanout.sensors.delta_txn"]}],
        "extra-links": [
            "airflow_fanout.operators.links.SparkUILink",
            "airflow_fanout.operators.links.FanOutTablesLink",
        ],
        "triggers": [
            {"integration-name": "Delta Lake fan-out", "python-modules": ["airflow_fanout.triggers.delta_txn"]}
        ],
        "integrations": [
            {
                "integration-name": "Delta Lake fan-out",
                "external-doc-url": "https://delta.io/",
                "tags": ["apache", "software"],
            }
        ],
    }
