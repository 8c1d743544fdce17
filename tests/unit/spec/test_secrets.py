"""Credentials in options are found by key and masked in text, JSON and log records."""

from __future__ import annotations

import io
import json
import logging

import pytest

from airflow_fanout.driver.report import RunReport, redact_json
from airflow_fanout.spec.secrets import (
    MASK,
    install_log_redaction,
    is_secret_key,
    redact,
    redact_options,
    secret_values,
)

JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="jaas-pw-8812";'


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "kafka.ssl.keystore.password",
        "fs.s3a.secret.key",
        "fs.s3a.access.key",
        "fs.azure.account.key.acct.dfs.core.windows.net",
        "kafka.sasl.jaas.config",
        "token",
        "spark.hadoop.fs.gs.auth.service.account.private.key",
        "Authorization",
        "apiKey",
        "client_secret",
        "sas_key",
    ],
)
def test_credential_keys_are_secret(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["maxFilesPerTrigger", "mergeSchema", "header", "kafka.bootstrap.servers", "subscribe"])
def test_ordinary_keys_are_not(key: str) -> None:
    assert not is_secret_key(key)


def test_secret_values_come_from_source_sink_options_and_confs_longest_first() -> None:
    doc = {
        "source": {"options": {"kafka.sasl.jaas.config": JAAS, "subscribe": "orders"}},
        "sinks": [{"options": {"fs.azure.account.key.a": "az-key-0001"}}, {"name": "no-options"}],
    }
    confs = {"spark.hadoop.fs.s3a.secret.key": "s3-secret-77", "spark.sql.shuffle.partitions": "4"}
    assert secret_values(doc, confs) == [JAAS, "s3-secret-77", "az-key-0001"]
    assert secret_values({"source": "not a dict", "sinks": "nor a list"}) == []
    assert secret_values({"source": {"options": {"password": "x"}}}) == []  # too short to mask safely


def test_redact_masks_every_occurrence_and_options_by_key() -> None:
    assert redact("a pw-1234 b pw-1234", ["pw-1234"]) == f"a {MASK} b {MASK}"
    assert redact_options({"password": "pw", "header": "true"}) == {"password": MASK, "header": "true"}


def test_report_json_masks_secrets_even_when_json_escapes_them() -> None:
    report = RunReport("app", "stream", None, "now", status="failed", error=f"cannot connect with {JAAS}")
    text = json.dumps(report.to_dict())
    assert "jaas-pw-8812" in text
    clean = redact_json(text, [JAAS, "jaas-pw-8812"])
    assert "jaas-pw-8812" not in clean and MASK in json.loads(clean)["error"]


def test_log_records_are_masked_in_message_arguments_and_tracebacks() -> None:
    logger = logging.getLogger("test_secrets.masked")
    logger.propagate = False
    stream = io.StringIO()
    logger.addHandler(logging.StreamHandler(stream))
    install_log_redaction(["tok-99887766"], logger)
    logger.warning("connecting with %s", {"token": "tok-99887766"})
    try:
        raise ValueError("bad token tok-99887766")
    except ValueError:
        logger.exception("failed")
    out = stream.getvalue()
    assert "tok-99887766" not in out
    assert "ValueError: bad token ***" in out and "{'token': '***'}" in out
