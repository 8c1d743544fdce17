"""Expectations and the dead-letter table.

Each row of a sink gets the names of the expectations it fails (false or null). A row failing a
``fail`` expectation fails the batch before the sink is written; a row failing a ``dead_letter``
one goes to the dead-letter table (its original columns plus ``_error_reason``, ``_sink``,
``_batch_id``, ``_processed_at``), one failing only ``drop`` ones is dropped. The counts come from
one aggregate over the (persisted) flagged rows: rows in == passed + dropped + dead-lettered."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from airflow_fanout.driver.transforms import drop_params, expr, with_params
from airflow_fanout.spec.model import Expectation, Scalar

FAILED = "__fanout_failed"
_KINDS = ("drop", "dead_letter", "fail")


def _failed_names(expectations: tuple[Expectation, ...], kind: str | None = None) -> Column:
    """The names of the expectations (of ``kind``) a row fails, as an array<string>."""
    names = [
        F.when(~F.coalesce(expr(e.check), F.lit(False)), F.lit(e.name))
        for e in expectations
        if kind is None or e.on_fail == kind
    ]
    if not names:
        return F.array().cast("array<string>")
    return F.filter(F.array(*names), lambda name: name.isNotNull())


def flag_rows(rows: DataFrame, expectations: tuple[Expectation, ...], params: Mapping[str, Scalar]) -> DataFrame:
    """``rows`` plus one array column per on_fail kind with the expectations each row fails."""
    flagged = with_params(rows, [e.check for e in expectations], params)
    flagged = flagged.withColumns({f"{FAILED}_{k}": _failed_names(expectations, k) for k in _KINDS})
    return drop_params(flagged)


def _fails(kind: str) -> Column:
    return F.size(F.col(f"{FAILED}_{kind}")) > 0


def passed_rows(flagged: DataFrame) -> DataFrame:
    """The rows that pass every expectation (what the sink writes and its downstream sinks read)."""
    clean = ~(_fails("drop") | _fails("dead_letter") | _fails("fail"))
    return flagged.where(clean).drop(*[f"{FAILED}_{k}" for k in _KINDS])


def dead_letter_rows(flagged: DataFrame, sink: str, batch_id: int, slice_key: str | None) -> DataFrame:
    """The rows for the dead-letter table: original columns + why, where from, which batch."""
    reason = F.array_join(F.concat(*[F.col(f"{FAILED}_{k}") for k in _KINDS]), ", ")
    extra = {
        "_error_reason": reason,
        "_sink": F.lit(sink),
        "_batch_id": F.lit(batch_id).cast("long"),
        "_processed_at": F.current_timestamp(),
    }
    if slice_key is not None:
        extra["_slice"] = F.lit(slice_key)
    return flagged.where(_fails("dead_letter")).withColumns(extra).drop(*[f"{FAILED}_{k}" for k in _KINDS])


@dataclass(frozen=True)
class QualityCounts:
    rows_in: int
    passed: int
    dropped: int
    dead_lettered: int
    failed: int


def count_rows(flagged: DataFrame) -> QualityCounts:
    """One aggregate over the flagged rows. A dead-letter failure wins over a drop."""
    dead = _fails("dead_letter")
    dropped = _fails("drop") & ~dead
    row = flagged.agg(
        F.count(F.lit(1)).alias("rows_in"),
        F.sum(F.when(dead, 1).otherwise(0)).alias("dead"),
        F.sum(F.when(dropped, 1).otherwise(0)).alias("dropped"),
        F.sum(F.when(_fails("fail"), 1).otherwise(0)).alias("failed"),
        F.sum(F.when(~(dead | dropped | _fails("fail")), 1).otherwise(0)).alias("passed"),
    ).first()
    assert row is not None
    return QualityCounts(
        rows_in=int(row["rows_in"]),
        passed=int(row["passed"] or 0),
        dropped=int(row["dropped"] or 0),
        dead_lettered=int(row["dead"] or 0),
        failed=int(row["failed"] or 0),
    )


def failing_examples(flagged: DataFrame, limit: int = 3) -> list[str]:
    """Names of the ``fail`` expectations a few failing rows broke (for the error message)."""
    rows = flagged.where(_fails("fail")).select(f"{FAILED}_fail").limit(limit).collect()
    return sorted({name for r in rows for name in r[0]})
