"""Change data capture into a merge sink: ordering by ``sequence_by``, tombstones, SCD type 2.

A batch of changes is first reduced: ``delete_when`` becomes a flag, and (SCD type 1) each key
keeps its latest change, ordered by the ``sequence_by`` columns compared left to right (null
sorts first), a delete winning a tie.

Tombstones. A delete removes the key's row, and with it the sequence that would make an older
change of that key, arriving in a later batch, lose. So each delete is also appended (key +
sequence + ``_deleted_at``) to the sink's tombstone table, with the batch's txn id and *before*
the sink's MERGE; a change not newer than the key's latest tombstone is ignored. Tombstones older
than the retention are deleted (at the start of each run, and every ``EXPIRE_EVERY`` batches):
a change older than an expired tombstone is applied again.

SCD type 2. The table keeps one row per version of a key, valid from ``__start_at`` to
``__end_at`` (the next version's or the delete's sequence; null while current). Each touched
key's history is rebuilt from its rows, its tombstones and the new changes, so a late change
lands between the versions it belongs between.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from airflow_fanout.driver.tables import delta_table, read_table, save, table_exists, txn_writer
from airflow_fanout.driver.transforms import drop_params, expr, null_safe_join_condition, with_params
from airflow_fanout.spec.model import SCD_END, SCD_START, MergeSpec, Scalar, SinkSpec, TableRef

log = logging.getLogger("airflow_fanout.driver")

DELETE_FLAG = "__fanout_delete"
DELETED_AT = "_deleted_at"
EXPIRE_EVERY = 100
_SEQ = "__fanout_seq"
_ORIGIN = "__fanout_origin"  # 0: a row of the table, 1: a change of this batch


def sequence(columns: tuple[str, ...], alias: str | None = None) -> Column:
    """The sequence of a change: its ``sequence_by`` columns as one comparable struct."""
    prefix = f"{alias}." if alias else ""
    return F.struct(*[F.col(f"{prefix}`{c}`").alias(c) for c in columns])


def sequence_sql(columns: tuple[str, ...], alias: str) -> str:
    return "struct(" + ", ".join(f"{alias}.`{c}`" for c in columns) + ")"


def flag_deletes(rows: DataFrame, merge: MergeSpec, params: Mapping[str, Scalar]) -> DataFrame:
    """``rows`` with ``DELETE_FLAG``: ``delete_when`` evaluated once per row (null is false)."""
    if merge.delete_when is None:
        return rows.withColumn(DELETE_FLAG, F.lit(False))
    flagged = with_params(rows, [merge.delete_when], params)
    return drop_params(flagged.withColumn(DELETE_FLAG, F.coalesce(expr(merge.delete_when), F.lit(False))))


def latest_changes(flagged: DataFrame, merge: MergeSpec) -> DataFrame:
    """One change per key: the latest by sequence, a delete winning a tie. Without
    ``sequence_by``, the rows as they are (the batch must hold one per key)."""
    if not merge.sequence_by:
        return flagged
    order = [c.desc() for c in (sequence(merge.sequence_by), F.col(DELETE_FLAG))]
    rank = F.row_number().over(Window.partitionBy(*merge.keys).orderBy(*order))
    return flagged.withColumn("__fanout_rank", rank).where("__fanout_rank = 1").drop("__fanout_rank")


# -- tombstones ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tombstones:
    """A CDC sink's tombstone table and how long its entries live."""

    ref: TableRef
    keys: tuple[str, ...]
    sequence_by: tuple[str, ...]
    retention: str

    @classmethod
    def of(cls, sink: SinkSpec) -> Tombstones | None:
        ref, merge = sink.tombstone_ref, sink.merge
        if ref is None or merge is None or merge.tombstones is None:
            return None
        return cls(ref, merge.keys, merge.sequence_by, merge.tombstones.retention)

    def append(self, session: SparkSession, changes: DataFrame, app_id: str, version: int) -> None:
        """Append this batch's deletes, with the batch's txn id (Delta skips it on a replay)."""
        deletes = changes.where(F.col(DELETE_FLAG)).select(
            *self.keys, *self.sequence_by, F.current_timestamp().alias(DELETED_AT)
        )
        save(txn_writer(deletes, "append", app_id, version), self.ref)

    def events(self, session: SparkSession) -> DataFrame | None:
        """Every tombstone as keys + ``_SEQ`` (a sequence struct); None before the first delete."""
        if not table_exists(session, self.ref):
            return None
        return read_table(session, self.ref).select(*self.keys, sequence(self.sequence_by).alias(_SEQ)).distinct()

    def latest(self, session: SparkSession) -> DataFrame | None:
        """Per key, the latest deleted sequence (``_SEQ``); None before the first delete."""
        events = self.events(session)
        return None if events is None else events.groupBy(*self.keys).agg(F.max(_SEQ).alias(_SEQ))

    def expire(self, session: SparkSession) -> None:
        """Delete the tombstones older than the retention (no txn id needed: idempotent)."""
        if not table_exists(session, self.ref):
            return
        cutoff = F.expr(f"current_timestamp() - INTERVAL {self.retention}")
        delta_table(session, self.ref).delete(F.col(DELETED_AT) < cutoff)
        log.info("tombstones %s: entries older than %s deleted", self.ref.target, self.retention)


def without_stale(changes: DataFrame, tombstones: DataFrame | None, merge: MergeSpec) -> DataFrame:
    """Drop the upserts not newer than their key's latest tombstone (deletes always pass)."""
    if tombstones is None:
        return changes
    condition = expr(null_safe_join_condition("c", "d", merge.keys))
    joined = changes.alias("c").join(F.broadcast(tombstones).alias("d"), condition, "left")
    newer = sequence(merge.sequence_by, "c") > F.col(f"d.{_SEQ}")
    live = F.col(f"c.{DELETE_FLAG}") | F.col(f"d.{_SEQ}").isNull() | newer
    return joined.where(live).select("c.*")


# -- SCD type 2 ----------------------------------------------------------------------------------
def _as_sequence(column: Column, seq_cols: tuple[str, ...]) -> Column:
    """A stored ``__start_at``/``__end_at`` as a sequence struct (a one-column sequence is stored
    as its plain value)."""
    return F.struct(column.alias(seq_cols[0])) if len(seq_cols) == 1 else column


def _stored(seq: Column, seq_cols: tuple[str, ...]) -> Column:
    """A sequence struct as ``__start_at``/``__end_at`` store it (inverse of ``_as_sequence``)."""
    return seq.getField(seq_cols[0]) if len(seq_cols) == 1 else seq


def scd2_rows(changes: DataFrame, table: DataFrame | None, tombstones: DataFrame | None, merge: MergeSpec) -> DataFrame:
    """The full history of every key ``changes`` touch: data columns, ``__start_at``, ``__end_at``.

    Events: each row of the table (an upsert at its ``__start_at``), each ``__end_at`` no row
    of the key starts at (a delete), each tombstone (keys + ``_SEQ``), each change of the batch.
    At one sequence a delete wins, then what the table already holds. Each upsert becomes a
    version that ends at the next event."""
    keys, seq_cols = list(merge.keys), merge.sequence_by
    data = [c for c in changes.columns if c != DELETE_FLAG]
    events = changes.withColumns({_SEQ: sequence(seq_cols), _ORIGIN: F.lit(1)})
    touched = changes.select(*keys).distinct()
    deletes: list[DataFrame] = []
    if table is not None:
        history = table.alias("h").join(touched.alias("k"), expr(null_safe_join_condition("h", "k", keys)), "left_semi")
        upserts = history.select(*data, _as_sequence(F.col(SCD_START), seq_cols).alias(_SEQ))
        events = events.unionByName(upserts.withColumns({DELETE_FLAG: F.lit(False), _ORIGIN: F.lit(0)}))
        starts = history.select(*keys, _as_sequence(F.col(SCD_START), seq_cols).alias(_SEQ))
        ends = history.where(F.col(SCD_END).isNotNull()).select(
            *keys, _as_sequence(F.col(SCD_END), seq_cols).alias(_SEQ)
        )
        ids = [*keys, _SEQ]
        deletes.append(
            ends.alias("e").join(starts.alias("s"), expr(null_safe_join_condition("e", "s", ids)), "left_anti")
        )
    if tombstones is not None:
        deletes.append(
            tombstones.alias("d").join(touched.alias("k"), expr(null_safe_join_condition("d", "k", keys)), "left_semi")
        )
    for dead in deletes:
        marked = dead.withColumns({DELETE_FLAG: F.lit(True), _ORIGIN: F.lit(0)})
        events = events.unionByName(marked, allowMissingColumns=True)
    one = Window.partitionBy(*keys, _SEQ).orderBy(F.col(DELETE_FLAG).desc(), F.col(_ORIGIN).asc())
    events = events.withColumn("__fanout_rank", F.row_number().over(one)).where("__fanout_rank = 1")
    following = Window.partitionBy(*keys).orderBy(F.col(_SEQ).asc())
    versions = events.withColumn(SCD_END, F.lead(_SEQ).over(following)).where(~F.col(DELETE_FLAG))
    return versions.select(
        *data, _stored(F.col(_SEQ), seq_cols).alias(SCD_START), _stored(F.col(SCD_END), seq_cols).alias(SCD_END)
    )


def scd2_source(rows: DataFrame, table: DataFrame | None, merge: MergeSpec) -> DataFrame:
    """MERGE source for the touched keys' histories: every version (``DELETE_FLAG`` false),
    plus the table's versions of those keys that the rebuilt history no longer has (true)."""
    if table is None:
        return rows.withColumn(DELETE_FLAG, F.lit(False))
    keys = list(merge.keys)
    touched = rows.select(*keys).distinct()
    current = table.alias("h").join(touched.alias("k"), expr(null_safe_join_condition("h", "k", keys)), "left_semi")
    ids = [*keys, SCD_START]
    gone = current.alias("h").join(rows.alias("n"), expr(null_safe_join_condition("h", "n", ids)), "left_anti")
    return rows.withColumn(DELETE_FLAG, F.lit(False)).unionByName(gone.withColumn(DELETE_FLAG, F.lit(True)))
