"""The changes a view applies: what its upstream table changed between two versions.

A view (``FanOutSpec.view_kind``) records, as its txn version, the upstream table version it
equals. Each batch brings it from that version ``W`` to the upstream's version ``L`` after the
upstream's write, using one of:

- ``rows``: the upstream's rows of this batch, when the upstream is a stream's append sink and
  its commit of this batch is the only one since ``W`` (all inserts; no read at all);
- ``feed``: Delta's Change Data Feed for versions ``W+1 .. L`` (inserts, update pre- and
  post-images, deletes), which the driver turns on for every table a view reads from;
- ``rebuild``: the whole upstream table at version ``L``, when the view has no version yet, or
  the feed of the range is gone (recorded before the feed was turned on, or vacuumed).
"""

from __future__ import annotations

import logging

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from airflow_fanout.driver.tables import FEED_PROPERTY, table_exists
from airflow_fanout.spec.model import TableRef

log = logging.getLogger("airflow_fanout.driver")

CHANGE_TYPE = "_change_type"
COMMIT_VERSION = "_commit_version"
COMMIT_TIMESTAMP = "_commit_timestamp"
FEED_COLUMNS = (CHANGE_TYPE, COMMIT_VERSION, COMMIT_TIMESTAMP)
#: +1 for a row that entered the upstream table (insert, update post-image), -1 for one that left
SIGN = "__fanout_sign"
#: Delta error conditions meaning "the feed of that range cannot be read": never recorded, or
#: its change files were vacuumed.
MISSING_FEED_CONDITIONS = ("DELTA_MISSING_CHANGE_DATA", "DELTA_CHANGE_DATA_FILE_NOT_FOUND")


def read_feed(session: SparkSession, ref: TableRef, first: int, last: int) -> DataFrame:
    """The Change Data Feed of ``ref`` for versions ``first``..``last``, with ``SIGN``."""
    reader = (
        session.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", first)
        .option("endingVersion", last)
    )
    frame = reader.load(ref.path) if ref.path is not None else reader.table(ref.table or "")
    return frame.withColumn(SIGN, change_sign(F.col(CHANGE_TYPE)))


def read_version(session: SparkSession, ref: TableRef, version: int) -> DataFrame:
    """The table at ``version`` (time travel), so a view reads what its txn version says."""
    reader = session.read.format("delta").option("versionAsOf", version)
    return reader.load(ref.path) if ref.path is not None else reader.table(ref.table or "")


def change_sign(change_type: Column) -> Column:
    return F.when(change_type.isin("insert", "update_postimage"), F.lit(1)).otherwise(F.lit(-1))


def as_inserts(rows: DataFrame, version: int) -> DataFrame:
    """Rows of the table as if the feed had them as inserts at ``version`` (a rebuild, or a
    batch's appended rows)."""
    return rows.withColumns(
        {
            CHANGE_TYPE: F.lit("insert"),
            COMMIT_VERSION: F.lit(version).cast("long"),
            COMMIT_TIMESTAMP: F.current_timestamp(),
            SIGN: F.lit(1),
        }
    )


def without_feed_columns(frame: DataFrame) -> DataFrame:
    return frame.drop(*FEED_COLUMNS, SIGN)


def missing_feed(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it wraps) says the feed of a range cannot be read."""
    seen: BaseException | None = exc
    while seen is not None:
        condition = getattr(seen, "getCondition", lambda: None)()
        if condition in MISSING_FEED_CONDITIONS or any(c in str(seen) for c in MISSING_FEED_CONDITIONS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def ensure_feed(session: SparkSession, ref: TableRef) -> bool:
    """Turn on the Change Data Feed of an existing table a view reads (new ones get it from the
    session's default); returns whether it had to. Views of it older than this version rebuild."""
    if not table_exists(session, ref):
        return False
    name = f"delta.`{ref.path}`" if ref.path is not None else (ref.table or "")
    rows = session.sql(f"SHOW TBLPROPERTIES {name} ('{FEED_PROPERTY}')").collect()
    if rows and str(rows[0]["value"]).lower() == "true":
        return False
    session.sql(f"ALTER TABLE {name} SET TBLPROPERTIES ('{FEED_PROPERTY}' = 'true')")
    log.info("table %s: change data feed turned on (a view reads it)", ref.target)
    return True
