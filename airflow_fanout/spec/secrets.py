"""Credentials in a spec: which option keys carry them, and how to keep their values out of
logs, run reports and XCom. Pure Python: used by the driver, the CLI and the Airflow parts.

An option is secret when its key looks like a credential (``password``, ``secret``, ``token``,
``sasl.jaas.config``, ``fs.s3a.access.key``, ``fs.azure.account.key.<account>``, ...). Its value
is replaced by ``***`` wherever the driver writes text; the spec file itself keeps it (the
driver needs it), so keep spec files private or template the values in from a secrets backend."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"

#: Keys whose values are credentials (matched anywhere in the key, case-insensitive).
SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?\b|pwd|secret|token|credential|jaas|"
    r"(access|account|private|api|client|shared|master|encryption|sas)[._-]?key|"
    r"authorization|bearer|cookie|session[._-]?id",
    re.IGNORECASE,
)
#: Values shorter than this are not masked on their own (masking "x" would garble every line).
MIN_SECRET_LENGTH = 4


def is_secret_key(key: str) -> bool:
    return SECRET_KEY.search(key) is not None


def _option_maps(doc: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    source = doc.get("source")
    if isinstance(source, Mapping) and isinstance(source.get("options"), Mapping):
        yield source["options"]
    sinks = doc.get("sinks")
    for sink in sinks if isinstance(sinks, list) else []:
        if isinstance(sink, Mapping) and isinstance(sink.get("options"), Mapping):
            yield sink["options"]


def secret_values(doc: Mapping[str, Any], confs: Mapping[str, Any] | None = None) -> list[str]:
    """The values of every secret option of a spec document (raw or rendered), and of secret
    Spark confs, longest first (so a secret containing another is masked whole)."""
    found: set[str] = set()
    maps = [*_option_maps(doc), *([confs] if confs else [])]
    for options in maps:
        for key, value in options.items():
            if is_secret_key(str(key)) and value is not None and len(str(value)) >= MIN_SECRET_LENGTH:
                found.add(str(value))
    return sorted(found, key=lambda v: (-len(v), v))


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value replaced by ``***``."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an options map with the values of secret keys masked (for logs and lineage)."""
    return {k: (MASK if is_secret_key(str(k)) else v) for k, v in options.items()}


class RedactingFilter(logging.Filter):
    """A logging filter that masks secret values in every record that passes through a handler
    (message and arguments, and the traceback text)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = list(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        clean = redact(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        return True


def install_log_redaction(secrets: Iterable[str], logger: logging.Logger | None = None) -> RedactingFilter:
    """Add a ``RedactingFilter`` to every handler of ``logger`` (the root logger by default)."""
    target = logger or logging.getLogger()
    redactor = RedactingFilter(secrets)
    for handler in target.handlers:
        handler.addFilter(redactor)
    return redactor
