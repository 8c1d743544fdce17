"""The dead-letter table: rows failing ``dead_letter`` expectations, and source records that do
not parse. Each sink's letters carry their own txn id (``<app_id>._dead_letter.<sink>``) and are
written before the sink, so a crash between the two loses nothing and doubles nothing."""

from __future__ import annotations

import logging
import threading

from pyspark.sql import DataFrame

from airflow_fanout.driver.delta_log import DeltaLogReader, TableState
from airflow_fanout.driver.retry import retry_conflicts
from airflow_fanout.driver.tables import save, txn_writer
from airflow_fanout.exceptions import RunError, first_line
from airflow_fanout.spec.model import FanOutSpec, TableRef
from airflow_fanout.spec.naming import dead_letter_app_id
from airflow_fanout.spec.params import sql_literal

log = logging.getLogger("airflow_fanout.driver")


class DeadLetterWriter:
    """Writes one spec's dead letters; sinks written at once share the table, so one at a time
    (their schemas merge)."""

    def __init__(self, spec: FanOutSpec, delta_log: DeltaLogReader) -> None:
        self._spec = spec
        self._delta_log = delta_log
        self._lock = threading.Lock()

    def write(self, sink_name: str, rows: DataFrame, batch_id: int, txn_version: int, *, by_slice: bool) -> int | None:
        """Append one sink's dead letters (``by_slice``: replace the slice's, a new run of a
        slice); returns how many rows the commit wrote, None when committed already."""
        ref = self._spec.dead_letter
        assert ref is not None, "validated: dead_letter expectations need a dead_letter table"
        app_id = dead_letter_app_id(self._spec, sink_name)
        slice_key = self._spec.slice_key if by_slice else None
        with self._lock:
            try:  # parallel slice runs may race to create the table: a conflict, tried again
                table = retry_conflicts(
                    lambda: self._append(ref, rows, app_id, txn_version, slice_key, sink_name),
                    what=f"batch {batch_id} dead letters of {sink_name}",
                )
            except Exception as exc:
                raise RunError(
                    f"dead-letter write to {ref.target} failed: {first_line(exc)}", sink=sink_name, batch_id=batch_id
                ) from exc
            if table is None:
                return None
            commit = self._delta_log.commit_carrying(ref, table, app_id, txn_version)
            written = commit.metrics.get("numOutputRows", 0) if commit is not None else 0
            log.info(
                "batch %s sink %s: %d dead letter(s) -> %s txn %s@%s",
                batch_id,
                sink_name,
                written,
                ref.target,
                app_id,
                txn_version,
            )
            return written

    def _append(
        self, ref: TableRef, rows: DataFrame, app_id: str, txn_version: int, slice_key: str | None, sink_name: str
    ) -> TableState | None:
        """One try: the table as it is now (None when the letters are committed already), then
        the write; returns the state read before it."""
        table = self._delta_log.state(ref)
        recorded = table.txn_version(app_id)
        if recorded is not None and recorded >= txn_version:
            return None
        writer = txn_writer(rows, "append" if slice_key is None else "overwrite", app_id, txn_version)
        writer = writer.option("mergeSchema", "true")
        if slice_key is not None:
            where = f"_sink = {sql_literal(sink_name)} AND _slice = {sql_literal(slice_key)}"
            writer = writer.option("replaceWhere", where)
        save(writer, ref)
        return table
