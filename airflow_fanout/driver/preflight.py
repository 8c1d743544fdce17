"""Checks that need Spark's parser but no SparkContext: every SQL expression parses.

Runs before the SparkSession starts (only the JVM gateway that spark-submit already launched
is used), so a typo in a sink's ``where`` fails the run with its JSON path and exit code 2,
before any executor, checkpoint or table is touched."""

from __future__ import annotations

import re
from typing import Any

from airflow_fanout.exceptions import SpecError, SpecIssue, first_line
from airflow_fanout.spec.params import bind_markers
from airflow_fanout.spec.validate import sql_fields


def expression_parser() -> Any:
    """Spark's Catalyst SQL parser through the py4j gateway, without creating a SparkContext."""
    from pyspark import SparkContext

    SparkContext._ensure_initialized()  # connects to spark-submit's JVM (or starts one)
    jvm = SparkContext._jvm
    assert jvm is not None
    # The Scala object itself (``CatalystSqlParser$.MODULE$``): py4j does not see the inherited
    # parse methods through the static forwarders.
    return getattr(jvm.org.apache.spark.sql.catalyst.parser, "CatalystSqlParser$").__getattr__("MODULE$")


def parse_expressions(doc: dict[str, object], parser: Any | None = None) -> None:
    """Raise ``SpecError`` listing each expression Spark cannot parse, with its JSON path."""
    fields = list(sql_fields(doc))
    if not fields:
        return
    parser = parser if parser is not None else expression_parser()
    issues = []
    for path, sql in fields:
        try:
            if path.endswith("order_by"):
                parser.parseExpression(f"struct({_strip_directions(sql)})")
            else:
                parser.parseExpression(bind_markers(sql))
        except Exception as exc:  # py4j wraps Spark's ParseException
            issues.append(SpecIssue(path, f"SQL expression does not parse: {_parse_error(exc)}"))
    if issues:
        raise SpecError(issues)


def _parse_error(exc: Exception) -> str:
    """Spark's own message (``[PARSE_SYNTAX_ERROR] ... (line 1, pos 3)``): without a
    SparkContext pyspark does not convert Java errors, so read the Java exception's message."""
    java = getattr(exc, "java_exception", None)
    if java is not None:
        try:
            return first_line(Exception(str(java.getMessage())))
        except Exception:  # pragma: no cover - the gateway went away
            pass
    return first_line(exc)


def _strip_directions(order_by: str) -> str:
    return bind_markers(re.sub(r"\s+(ASC|DESC)(\s+NULLS\s+(FIRST|LAST))?\s*(?=,|$)", "", order_by, flags=re.I))
