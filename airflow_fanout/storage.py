"""Object storage: which store a table path lives in, and the credentials to reach it, for the
two readers of a lake: Spark (Hadoop confs: S3A, ABFS, GCS connector) and the JVM-free log
readers (``obstore`` / delta-rs storage options, the same names).

Credentials come from an Airflow connection (``connection_options``: its fields as a plain
mapping, so this module imports neither airflow nor pyspark) or from the environment
(``AWS_ACCESS_KEY_ID``, ``AZURE_STORAGE_ACCOUNT_NAME``, ``GOOGLE_SERVICE_ACCOUNT`` ...: obstore
and the Hadoop connectors read those themselves).

=================  =====================================  =========================================
Airflow conn type  reader option (obstore / delta-rs)     Spark conf
=================  =====================================  =========================================
``aws``            ``aws_access_key_id`` = login          ``spark.hadoop.fs.s3a.access.key``
                   ``aws_secret_access_key`` = password   ``spark.hadoop.fs.s3a.secret.key``
                   ``aws_session_token`` = extra          ``...s3a.session.token`` (+ provider)
                   ``aws_endpoint`` = extra endpoint_url  ``...s3a.endpoint`` (+ path style, ssl)
                   ``aws_region`` = extra region_name     ``...s3a.endpoint.region``
``wasb``/``adls``  ``azure_storage_account_name`` = login ``spark.hadoop.fs.azure.account.key.
                   ``azure_storage_account_key`` = pw     <account>.dfs.core.windows.net``
``google_cloud_``  ``google_service_account`` = extra     ``spark.hadoop.google.cloud.auth.service.
``platform``       key_path (or the keyfile_dict JSON)    account.json.keyfile`` (a key file path)
=================  =====================================  =========================================
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

#: Spark's scheme -> object_store's (``s3a://b/p`` is ``s3://b/p`` to obstore and delta-rs)
_SCHEMES = {"s3a": "s3", "s3n": "s3", "s3": "s3", "abfss": "abfss", "abfs": "abfs", "gs": "gs", "az": "az"}
AWS_TYPES = ("aws", "s3")
AZURE_TYPES = ("wasb", "adls", "azure_data_lake", "azure")
GCP_TYPES = ("google_cloud_platform", "gcp")


@dataclass(frozen=True)
class ObjectPath:
    """A table path in an object store: ``url`` as obstore/delta-rs name it, the bucket (or
    container) and the key prefix inside it (no slashes at its ends)."""

    scheme: str
    bucket: str
    key: str

    @property
    def store_url(self) -> str:
        return f"{self.scheme}://{self.bucket}"

    @property
    def url(self) -> str:
        return f"{self.store_url}/{self.key}" if self.key else self.store_url


def object_path(path: str) -> ObjectPath | None:
    """``path`` as an ``ObjectPath``; None for a local path (no scheme, or ``file:``)."""
    if "://" not in path:
        return None
    parsed = urlparse(path)
    scheme = _SCHEMES.get(parsed.scheme.lower())
    if scheme is None:
        if parsed.scheme.lower() == "file":
            return None
        raise ValueError(f"{path}: unsupported storage scheme {parsed.scheme!r} (s3a, abfss, gs or a local path)")
    if scheme in ("abfss", "abfs") and "@" in parsed.netloc:  # abfss://container@account.dfs.core.windows.net/p
        container = parsed.netloc.split("@", 1)[0]
        return ObjectPath("az", container, parsed.path.strip("/"))
    return ObjectPath(scheme, parsed.netloc, parsed.path.strip("/"))


def is_object_store(path: str | None) -> bool:
    return path is not None and object_path(path) is not None


@dataclass(frozen=True)
class ConnectionFields:
    """What this module reads of an Airflow connection (``from_connection`` makes one)."""

    conn_type: str
    login: str | None = None
    password: str | None = None
    host: str | None = None
    extra: Mapping[str, Any] | None = None

    @classmethod
    def from_connection(cls, conn: Any) -> ConnectionFields:
        """From an ``airflow.sdk.Connection`` (or anything with its attributes)."""
        extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else {}
        return cls(str(conn.conn_type or ""), conn.login, conn.password, conn.host, dict(extra or {}))


def reader_options(conn: ConnectionFields) -> dict[str, str]:
    """Storage options for obstore / delta-rs from an Airflow connection."""
    extra = dict(conn.extra or {})
    kind = conn.conn_type.lower()
    out: dict[str, str] = {}
    if kind in AWS_TYPES:
        _put(out, "aws_access_key_id", conn.login or extra.get("aws_access_key_id"))
        _put(out, "aws_secret_access_key", conn.password or extra.get("aws_secret_access_key"))
        _put(out, "aws_session_token", extra.get("aws_session_token"))
        _put(out, "aws_region", extra.get("region_name"))
        endpoint = _aws_endpoint(conn)
        if endpoint:
            out["aws_endpoint"] = endpoint
            out["aws_allow_http"] = "true" if endpoint.startswith("http://") else "false"
        if _path_style(conn):
            out["aws_virtual_hosted_style_request"] = "false"
    elif kind in AZURE_TYPES:
        _put(out, "azure_storage_account_name", conn.login or conn.host)
        _put(out, "azure_storage_account_key", conn.password)
        _put(out, "azure_storage_sas_key", extra.get("sas_token"))
        _put(out, "azure_storage_client_id", extra.get("client_id"))
        _put(out, "azure_storage_tenant_id", extra.get("tenant_id"))
        _put(out, "azure_storage_client_secret", extra.get("client_secret"))
    elif kind in GCP_TYPES:
        key_path = extra.get("key_path") or extra.get("extra__google_cloud_platform__key_path")
        keyfile = extra.get("keyfile_dict") or extra.get("extra__google_cloud_platform__keyfile_dict")
        _put(out, "google_service_account", key_path)
        if keyfile and not key_path:
            out["google_service_account_key"] = keyfile if isinstance(keyfile, str) else json.dumps(keyfile)
    else:
        raise _not_a_store(conn)
    return out


def spark_confs(conn: ConnectionFields) -> dict[str, str]:
    """Hadoop confs (``spark.hadoop.*``) for Spark to reach the store of an Airflow connection.
    GCS needs a key file path (``key_path``): the connector cannot take the key's JSON itself."""
    extra = dict(conn.extra or {})
    kind = conn.conn_type.lower()
    out: dict[str, str] = {}
    if kind in AWS_TYPES:
        s3a = "spark.hadoop.fs.s3a."
        _put(out, f"{s3a}access.key", conn.login or extra.get("aws_access_key_id"))
        _put(out, f"{s3a}secret.key", conn.password or extra.get("aws_secret_access_key"))
        if extra.get("aws_session_token"):
            out[f"{s3a}session.token"] = str(extra["aws_session_token"])
            out[f"{s3a}aws.credentials.provider"] = "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"
        _put(out, f"{s3a}endpoint.region", extra.get("region_name"))
        endpoint = _aws_endpoint(conn)
        if endpoint:
            out[f"{s3a}endpoint"] = endpoint
            out[f"{s3a}connection.ssl.enabled"] = "false" if endpoint.startswith("http://") else "true"
        if _path_style(conn):
            out[f"{s3a}path.style.access"] = "true"
    elif kind in AZURE_TYPES:
        account = conn.login or conn.host
        if account and conn.password:
            out[f"spark.hadoop.fs.azure.account.key.{account}.dfs.core.windows.net"] = conn.password
    elif kind in GCP_TYPES:
        key_path = extra.get("key_path") or extra.get("extra__google_cloud_platform__key_path")
        if key_path:
            out["spark.hadoop.google.cloud.auth.service.account.enable"] = "true"
            out["spark.hadoop.google.cloud.auth.service.account.json.keyfile"] = str(key_path)
    else:
        raise _not_a_store(conn)
    return out


def secret_options(options: Mapping[str, str]) -> list[str]:
    """The values among ``options`` (reader options or Spark confs) that are secrets, to mask."""
    markers = ("secret", "password", "session.token", "session_token", "account_key", "account.key", "sas_key")
    return [v for k, v in options.items() if v and any(m in k.lower() for m in markers)]


def _not_a_store(conn: ConnectionFields) -> ValueError:
    kinds = "aws, wasb/adls, google_cloud_platform"
    return ValueError(f"connection type {conn.conn_type!r} is not an object store ({kinds})")


def _aws_endpoint(conn: ConnectionFields) -> str | None:
    extra = dict(conn.extra or {})
    endpoint = extra.get("endpoint_url") or extra.get("host") or conn.host
    return str(endpoint) if endpoint else None


def _path_style(conn: ConnectionFields) -> bool:
    """Path-style addressing: asked for in the extra (botocore's ``addressing_style``), or any
    custom endpoint (MinIO, SeaweedFS, Ceph ... rarely serve bucket subdomains)."""
    extra = dict(conn.extra or {})
    style = (extra.get("config_kwargs") or {}).get("s3", {}).get("addressing_style")
    if style is not None:
        return bool(style == "path")
    return _aws_endpoint(conn) is not None


def _put(out: dict[str, str], key: str, value: Any) -> None:
    if value:
        out[key] = str(value)


_STORES: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}
#: storage options that are HTTP client settings to obstore (delta-rs takes them with the rest)
_CLIENT_OPTIONS = ("allow_http", "allow_invalid_certificates", "timeout", "connect_timeout", "proxy_url")


def object_store(where: ObjectPath, storage_options: Mapping[str, str] | None = None) -> Any:
    """An ``obstore`` store for ``where``'s bucket, one per bucket and credentials (its HTTP
    connections are reused across calls: a sensor polls the same tables every few seconds)."""
    from obstore.store import from_url

    options = tuple(sorted((storage_options or {}).items()))
    key = (where.store_url, options)
    if key not in _STORES:
        config, client = _split_options(dict(options))
        _STORES[key] = from_url(where.store_url, config=config or None, client_options=client)  # type: ignore[call-overload]
    return _STORES[key]


def _split_options(options: dict[str, str]) -> tuple[dict[str, str], dict[str, Any]]:
    """Split delta-rs style storage options into obstore's store config and client options."""
    config: dict[str, str] = {}
    client: dict[str, Any] = {"timeout": "30s"}
    # obstore reads the store's settings from the environment (AWS_ENDPOINT_URL ...), but its
    # client options only from here: take the environment's, which the options below override
    for name in ("AWS_ALLOW_HTTP", "ALLOW_HTTP"):
        if os.environ.get(name):
            client["allow_http"] = os.environ[name].lower() == "true"
    for name, value in options.items():
        bare = name.lower().removeprefix("aws_").removeprefix("azure_").removeprefix("google_")
        if bare in _CLIENT_OPTIONS:
            client[bare] = value.lower() == "true" if bare.startswith("allow_") else value
        else:
            config[name] = value
    return config, client


def reader_options_from_spark(confs: Mapping[str, str]) -> dict[str, str]:
    """Reader options from a run's Spark confs (its ``spark.hadoop.fs.s3a.*`` settings), so the
    driver reaches the store with the credentials Spark was given. Per-bucket settings
    (``fs.s3a.bucket.<name>.*``) and credential providers other than keys are not mapped: obstore
    then falls back to the environment (``AWS_*``, instance metadata)."""
    s3a = {k[len("spark.hadoop.fs.s3a.") :]: v for k, v in confs.items() if k.startswith("spark.hadoop.fs.s3a.")}
    out: dict[str, str] = {}
    _put(out, "aws_access_key_id", s3a.get("access.key"))
    _put(out, "aws_secret_access_key", s3a.get("secret.key"))
    _put(out, "aws_session_token", s3a.get("session.token"))
    _put(out, "aws_region", s3a.get("endpoint.region"))
    endpoint = s3a.get("endpoint")
    if endpoint:
        if "://" not in endpoint:
            ssl = s3a.get("connection.ssl.enabled", "true").lower() != "false"
            endpoint = f"{'https' if ssl else 'http'}://{endpoint}"
        out["aws_endpoint"] = endpoint
        out["aws_allow_http"] = "true" if endpoint.startswith("http://") else "false"
    if s3a.get("path.style.access", "").lower() == "true":
        out["aws_virtual_hosted_style_request"] = "false"
    return out
