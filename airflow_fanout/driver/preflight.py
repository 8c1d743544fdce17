"""Checks that need Spark but no data: every SQL expression parses with Spark's own parser.

Runs after the session starts and before anything is read or written, so a typo in a sink's
``where`` fails the run with its JSON path, not half way through a batch."""

from __future__ import annotations

from pyspark.sql import SparkSession

from airflow_fanout.exceptions import SpecError, SpecIssue, first_line
from airflow_fanout.spec.params import bind_markers
from airflow_fanout.spec.validate import sql_fields


def parse_expressions(spark: SparkSession, doc: dict[str, object]) -> None:
    """Raise ``SpecError`` listing each expression Spark cannot parse, with its JSON path."""
    parser = spark._jsparkSession.sessionState().sqlParser()
    issues = []
    for path, sql in sql_fields(doc):
        try:
            if path.endswith("order_by"):
                parser.parseExpression(f"struct({_strip_directions(sql)})")
            else:
                parser.parseExpression(bind_markers(sql))
        except Exception as exc:  # py4j wraps Spark's ParseException
            issues.append(SpecIssue(path, f"SQL expression does not parse: {first_line(exc)}"))
    if issues:
        raise SpecError(issues)


def _strip_directions(order_by: str) -> str:
    import re

    return bind_markers(re.sub(r"\s+(ASC|DESC)(\s+NULLS\s+(FIRST|LAST))?\s*(?=,|$)", "", order_by, flags=re.I))
