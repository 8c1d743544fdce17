"""Object-store paths and credentials from Airflow connections (pure Python): the mapping for
S3, Azure and GCS to the JVM-free readers' options and to Spark's Hadoop confs."""

from __future__ import annotations

import pytest

from airflow_fanout.storage import (
    ConnectionFields,
    ObjectPath,
    object_path,
    reader_options,
    reader_options_from_spark,
    secret_options,
    spark_confs,
)


def test_object_paths() -> None:
    assert object_path("/tmp/lake/t") is None and object_path("file:///tmp/lake/t") is None
    assert object_path("s3a://lake/silver/events/") == ObjectPath("s3", "lake", "silver/events")
    assert object_path("s3://lake").url == "s3://lake"  # type: ignore[union-attr]
    assert object_path("gs://b/x/y") == ObjectPath("gs", "b", "x/y")
    abfss = object_path("abfss://raw@acct.dfs.core.windows.net/events")
    assert abfss == ObjectPath("az", "raw", "events")
    with pytest.raises(ValueError, match="unsupported storage scheme 'hdfs'"):
        object_path("hdfs://nn/lake")


def test_aws_connection_to_reader_options_and_spark_confs() -> None:
    conn = ConnectionFields(
        "aws",
        login="AKIA",
        password="s3cr3t",
        extra={"endpoint_url": "http://127.0.0.1:8333", "region_name": "eu-west-1", "aws_session_token": "tok"},
    )
    assert reader_options(conn) == {
        "aws_access_key_id": "AKIA",
        "aws_secret_access_key": "s3cr3t",
        "aws_session_token": "tok",
        "aws_region": "eu-west-1",
        "aws_endpoint": "http://127.0.0.1:8333",
        "aws_allow_http": "true",
        "aws_virtual_hosted_style_request": "false",
    }
    confs = spark_confs(conn)
    assert confs == {
        "spark.hadoop.fs.s3a.access.key": "AKIA",
        "spark.hadoop.fs.s3a.secret.key": "s3cr3t",
        "spark.hadoop.fs.s3a.session.token": "tok",
        "spark.hadoop.fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider",
        "spark.hadoop.fs.s3a.endpoint.region": "eu-west-1",
        "spark.hadoop.fs.s3a.endpoint": "http://127.0.0.1:8333",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.path.style.access": "true",
    }
    assert sorted(secret_options(confs)) == ["s3cr3t", "tok"]
    assert sorted(secret_options(reader_options(conn))) == ["s3cr3t", "tok"]


def test_aws_on_amazon_itself_keeps_virtual_hosted_requests() -> None:
    conn = ConnectionFields("aws", login="AKIA", password="x", extra={"region_name": "us-east-1"})
    assert "aws_virtual_hosted_style_request" not in reader_options(conn) and "aws_endpoint" not in reader_options(conn)
    assert "spark.hadoop.fs.s3a.path.style.access" not in spark_confs(conn)
    path_style = ConnectionFields("aws", extra={"config_kwargs": {"s3": {"addressing_style": "path"}}})
    assert reader_options(path_style) == {"aws_virtual_hosted_style_request": "false"}


def test_azure_and_gcp_connections() -> None:
    azure = ConnectionFields("wasb", login="acct", password="key==")
    assert reader_options(azure) == {"azure_storage_account_name": "acct", "azure_storage_account_key": "key=="}
    assert spark_confs(azure) == {"spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net": "key=="}
    gcp = ConnectionFields("google_cloud_platform", extra={"key_path": "/keys/sa.json"})
    assert reader_options(gcp) == {"google_service_account": "/keys/sa.json"}
    assert spark_confs(gcp)["spark.hadoop.google.cloud.auth.service.account.json.keyfile"] == "/keys/sa.json"
    inline = ConnectionFields("google_cloud_platform", extra={"keyfile_dict": {"type": "service_account"}})
    assert reader_options(inline) == {"google_service_account_key": '{"type": "service_account"}'}
    with pytest.raises(ValueError, match="'postgres' is not an object store"):
        reader_options(ConnectionFields("postgres"))


def test_the_driver_reaches_the_store_with_sparks_s3a_confs() -> None:
    conn = ConnectionFields("aws", login="AKIA", password="s3cr3t", extra={"endpoint_url": "http://127.0.0.1:8333"})
    assert reader_options_from_spark(spark_confs(conn)) == reader_options(conn)  # the round trip
    bare = {"spark.hadoop.fs.s3a.endpoint": "minio:9000", "spark.hadoop.fs.s3a.connection.ssl.enabled": "false"}
    assert reader_options_from_spark(bare) == {"aws_endpoint": "http://minio:9000", "aws_allow_http": "true"}
    assert reader_options_from_spark({"spark.sql.shuffle.partitions": "4"}) == {}
