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
        # The hooks, operators, sensors and triggers are registered here as they land (issue 5).
        "integrations": [
            {
                "integration-name": "Delta Lake fan-out",
                "external-doc-url": "https://delta.io/",
                "tags": ["apache", "software"],
            }
        ],
    }
