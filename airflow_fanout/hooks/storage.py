"""Object-store credentials from an Airflow connection (``aws``, ``wasb``/``adls``,
``google_cloud_platform``): options for the JVM-free log readers (sensor, trigger) and Hadoop
confs for Spark (the fan-out operators). The mapping itself is ``airflow_fanout.storage``; this
module only fetches the connection and masks the secrets it finds in the task log."""

from __future__ import annotations

from airflow.sdk import BaseHook

from airflow_fanout.storage import ConnectionFields, reader_options, secret_options, spark_confs

try:
    from airflow.sdk.log import mask_secret
except ImportError:  # pragma: no cover - Airflow 3.0/3.1
    from airflow.sdk.execution_time.secrets_masker import mask_secret  # type: ignore[no-redef]


def _masked(options: dict[str, str]) -> dict[str, str]:
    for secret in secret_options(options):
        mask_secret(secret)
    return options


def storage_options(conn_id: str | None) -> dict[str, str] | None:
    """Reader options (obstore / delta-rs) from connection ``conn_id``; None without one (the
    readers then take credentials from the environment)."""
    if not conn_id:
        return None
    return _masked(reader_options(ConnectionFields.from_connection(BaseHook.get_connection(conn_id))))


async def astorage_options(conn_id: str) -> dict[str, str]:
    """``storage_options`` from inside the triggerer's event loop."""
    getter = getattr(BaseHook, "aget_connection", None)
    if getter is not None:  # Airflow >= 3.1: the connection through the triggerer's supervisor
        conn = await getter(conn_id)
    else:  # pragma: no cover - Airflow 3.0
        from asgiref.sync import sync_to_async

        conn = await sync_to_async(BaseHook.get_connection)(conn_id)
    return _masked(reader_options(ConnectionFields.from_connection(conn)))


def storage_spark_confs(conn_id: str) -> dict[str, str]:
    """``spark.hadoop.*`` confs for Spark to reach the store of connection ``conn_id``."""
    return _masked(spark_confs(ConnectionFields.from_connection(BaseHook.get_connection(conn_id))))
