"""Run a spec: a stream through foreachBatch, or one batch slice. Each batch is read once,
persisted when more than one sink reads it, and written wave by wave with bounded parallelism."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming.query import StreamingQuery

from airflow_fanout.driver import checkpoint as checkpoint_state
from airflow_fanout.driver.delta_log import TableState, read_commit, read_table_state
from airflow_fanout.driver.plan import SOURCE, BatchPlan, plan_batch
from airflow_fanout.driver.report import BatchReport, RunReport, SinkResult
from airflow_fanout.driver.sinks import SinkWrite, write_sink
from airflow_fanout.driver.sources import apply_source_where, read_slice, read_stream
from airflow_fanout.driver.transforms import sink_rows
from airflow_fanout.exceptions import RunError
from airflow_fanout.spec.model import FanOutSpec, SinkSpec
from airflow_fanout.spec.naming import sink_app_id
from airflow_fanout.spec.params import render_with_literals

log = logging.getLogger("airflow_fanout.driver")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class FanOutRun:
    """One run of a spec in one SparkSession."""

    spark: SparkSession
    spec: FanOutSpec
    report: RunReport = field(init=False)
    plan: BatchPlan = field(init=False)
    _sessions: dict[str, SparkSession] = field(default_factory=dict, init=False)
    _stopping: bool = field(default=False, init=False)
    on_batch: Callable[[BatchReport], None] | None = None

    def __post_init__(self) -> None:
        self.plan = plan_batch(self.spec)
        self.report = RunReport(
            app_id=self.spec.app_id, mode=self.spec.run.mode, slice_key=self.spec.slice_key, started_at=_now()
        )
        # MERGE txn ids are per-session SQL confs: one session per sink, reused across batches.
        self._sessions = {s.name: self.spark.newSession() for s in self.spec.sinks}

    # -- entry points -------------------------------------------------------------------
    def run(self) -> RunReport:
        try:
            if self.spec.run.mode == "stream":
                self._run_stream()
            else:
                self._run_slice()
            self.report.status = "succeeded"
        except Exception as exc:
            self.report.status = "failed"
            self.report.error = str(exc)
            raise
        finally:
            self.report.finished_at = _now()
        return self.report

    def _run_stream(self) -> None:
        spec = self.spec
        checkpoint_state.refuse_reset(self.spark, spec, self._table_states())
        stream = read_stream(self.spark, spec.source)
        writer = (
            stream.writeStream.foreachBatch(self.write_batch)
            .option("checkpointLocation", spec.run.checkpoint)
            .queryName(f"fanout-{spec.app_id}")
        )
        trigger = spec.run.trigger
        if trigger.kind == "available_now":
            writer = writer.trigger(availableNow=True)
        elif trigger.kind == "once":
            writer = writer.trigger(once=True)
        else:
            writer = writer.trigger(processingTime=trigger.interval or "0 seconds")
        query = writer.start()
        log.info("stream %s started (trigger %s, checkpoint %s)", spec.app_id, trigger.kind, spec.run.checkpoint)
        timeout = spec.run.timeout_seconds
        finished = query.awaitTermination(int(timeout)) if timeout else query.awaitTermination()
        if timeout and not finished:
            self._stop_between_batches(query)  # a processing_time stream runs for timeout_seconds
            if trigger.kind != "processing_time":
                raise RunError(f"stream did not finish within {timeout}s")
            error = query.exception()
            if error is not None and "StopRequested" not in str(error):
                raise RunError(str(error))
            return
        if query.exception() is not None:  # pragma: no cover - awaitTermination raises first
            raise RunError(str(query.exception()))

    def _stop_between_batches(self, query: StreamingQuery) -> None:
        """Stop a stream without cutting a batch in half: batches that start from now on write
        nothing (they are replayed by the next run), the running one is allowed to finish."""
        self._stopping = True
        deadline = time.monotonic() + 600
        while query.isActive and query.status.get("isTriggerActive") and time.monotonic() < deadline:
            time.sleep(0.2)
        query.stop()

    def _run_slice(self) -> None:
        states = self._table_states()
        version = checkpoint_state.slice_run_version(self.spec, states)
        log.info("slice %s of %s: run version %d", self.spec.slice_key, self.spec.app_id, version)
        self.write_batch(read_slice(self.spark, self.spec), version)

    # -- one batch ----------------------------------------------------------------------
    def write_batch(self, batch: DataFrame, batch_id: int) -> None:
        """Write every sink for one batch (the foreachBatch function)."""
        if self._stopping:
            raise StopRequested(f"batch {batch_id} not started: the run is stopping")
        started = time.monotonic()
        spec = self.spec
        if spec.run.mode == "stream":
            batch = apply_source_where(batch, spec)
        txn_version = int(batch_id)
        states = self._table_states()
        frames: dict[str, DataFrame] = {SOURCE: batch}
        persisted: list[DataFrame] = []
        if SOURCE in self.plan.persist:
            persisted.append(batch.persist(StorageLevel.MEMORY_AND_DISK))
            frames[SOURCE] = persisted[-1]
        result = BatchReport(batch_id=int(batch_id), txn_version=txn_version)
        try:
            for wave in self.plan.waves:
                for name in wave:
                    sink = spec.sink(name)
                    rows = sink_rows(frames[sink.upstream or SOURCE], sink, spec.params)
                    if name in self.plan.persist:
                        rows = rows.persist(StorageLevel.MEMORY_AND_DISK)
                        persisted.append(rows)
                    frames[name] = rows
                result.sinks.extend(self._write_wave(wave, frames, states, txn_version, int(batch_id)))
        finally:
            for frame in persisted:
                frame.unpersist()
        result.duration_s = round(time.monotonic() - started, 3)
        self.report.batches.append(result)
        written = sum(1 for r in result.sinks if r.status == "written")
        log.info(
            "batch %s done: %d sink(s) written, %d skipped, %.2fs",
            batch_id,
            written,
            len(result.sinks) - written,
            result.duration_s,
        )
        if self.on_batch is not None:
            self.on_batch(result)

    def _write_wave(
        self,
        wave: tuple[str, ...],
        frames: dict[str, DataFrame],
        states: dict[str, TableState],
        txn_version: int,
        batch_id: int,
    ) -> list[SinkResult]:
        workers = max(1, min(self.plan.max_parallel, len(wave)))
        if workers == 1:
            return [self._write_one(self.spec.sink(n), frames[n], states[n], txn_version, batch_id) for n in wave]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fanout-sink") as pool:
            futures: dict[Future[SinkResult], str] = {
                pool.submit(self._write_one, self.spec.sink(n), frames[n], states[n], txn_version, batch_id): n
                for n in wave
            }
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in done if f.exception() is not None]
            if failed:
                for f in futures:
                    f.cancel()
                # Let writes already running finish: they are committed or not, never half done.
                wait(futures)
                raise failed[0].exception()  # type: ignore[misc]
            return [f.result() for f in futures]

    def _write_one(
        self, sink: SinkSpec, rows: DataFrame, state: TableState, txn_version: int, batch_id: int
    ) -> SinkResult:
        started = time.monotonic()
        app_id = sink_app_id(self.spec, sink)
        recorded = state.txn_version(app_id)
        if recorded is not None and recorded >= txn_version:
            result = SinkResult(sink.name, sink.ref.target, app_id, txn_version, "skipped", state.version, 0, 0.0)
            log.info(result.log_line(batch_id))
            return result
        session = self._sessions[sink.name]
        session.sparkContext.setJobDescription(f"fanout {self.spec.app_id} batch {batch_id} sink {sink.name}")
        write = SinkWrite(
            sink=sink,
            session=session,
            rows=rows,
            txn_app_id=app_id,
            txn_version=txn_version,
            params=self.spec.params,
            replace_where=self._replace_where(sink),
            upstream=self.spec.sink(sink.upstream) if sink.upstream else None,
            table_exists=state.exists,
        )
        try:
            write_sink(write)
        except Exception as exc:
            raise RunError(
                f"write to {sink.ref.target} failed: {_first_line(exc)}", sink=sink.name, batch_id=batch_id
            ) from exc
        after = read_table_state(session, sink.ref)
        commit = read_commit(session, sink.ref, after.version or 0)
        result = SinkResult(
            sink=sink.name,
            target=sink.ref.target,
            txn_app_id=app_id,
            txn_version=txn_version,
            status="written" if after.txn_version(app_id) == txn_version else "skipped",
            table_version=after.version,
            rows_written=_rows_written(commit.operation, commit.metrics),
            duration_s=round(time.monotonic() - started, 3),
            operation=commit.operation,
            metrics=commit.metrics,
        )
        log.info(result.log_line(batch_id))
        return result

    def _replace_where(self, sink: SinkSpec) -> str | None:
        """The predicate an overwrite replaces: the sink's own, else (batch mode) the slice's."""
        if sink.aggregate is not None or sink.mode == "merge":
            return None
        predicate = sink.replace_where
        if predicate is None and self.spec.run.slice is not None:
            predicate = self.spec.run.slice.where  # a backfill append replaces its slice
        return render_with_literals(predicate, dict(self.spec.params)) if predicate else None

    def _table_states(self) -> dict[str, TableState]:
        return {s.name: read_table_state(self.spark, s.ref) for s in self.spec.sinks}


class StopRequested(Exception):
    """Raised in foreachBatch, before any write, once a timed stream is stopping."""


def _rows_written(operation: str, metrics: dict[str, int]) -> int:
    if operation == "MERGE":
        return sum(metrics.get(k, 0) for k in ("numTargetRowsInserted", "numTargetRowsUpdated", "numTargetRowsDeleted"))
    return metrics.get("numOutputRows", 0)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
