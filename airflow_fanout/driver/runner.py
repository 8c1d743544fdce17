"""Run a spec: a stream through foreachBatch, or one batch slice. Each batch is read once,
persisted when more than one sink reads it, and its sinks written with bounded parallelism, each
as soon as its upstream sink is written."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming.query import StreamingQuery

from airflow_fanout.driver import checkpoint as checkpoint_state
from airflow_fanout.driver.aggregates import measure_plan
from airflow_fanout.driver.cdc import EXPIRE_EVERY, Tombstones
from airflow_fanout.driver.changes import SIGN, ensure_feed, missing_feed
from airflow_fanout.driver.dead_letters import DeadLetterWriter
from airflow_fanout.driver.delta_log import CommitInfo, DeltaLogReader, TableState
from airflow_fanout.driver.plan import SOURCE, BatchPlan, ChangeRange, catch_all_where, plan_batch, plan_range
from airflow_fanout.driver.quality import (
    QualityCounts,
    count_rows,
    dead_letter_rows,
    failing_examples,
    flag_rows,
    passed_rows,
)
from airflow_fanout.driver.report import BatchReport, RunReport, SinkResult, now_iso
from airflow_fanout.driver.retry import retry_conflicts
from airflow_fanout.driver.run_lock import RunLock
from airflow_fanout.driver.schema_check import explain_mismatch
from airflow_fanout.driver.sinks import SinkWrite, write_sink
from airflow_fanout.driver.sources import CORRUPT_COLUMN, apply_source_where, read_slice, read_stream, slice_rows
from airflow_fanout.driver.tables import read_table
from airflow_fanout.driver.transforms import sink_rows
from airflow_fanout.driver.views import ViewWrite, upstream_changes, view_rows, write_view
from airflow_fanout.exceptions import RunError, first_line
from airflow_fanout.spec.measures import MeasurePlan
from airflow_fanout.spec.model import FanOutSpec, Scalar, SinkSpec
from airflow_fanout.spec.naming import SOURCE_DEAD_LETTERS, sink_app_id, tombstone_app_id
from airflow_fanout.spec.params import render_with_literals
from airflow_fanout.spec.secrets import redact_options
from airflow_fanout.storage import is_object_store, reader_options_from_spark

log = logging.getLogger("airflow_fanout.driver")


@dataclass
class BatchState:
    """One batch in flight: its ids, params (with the built-in ``batch_id``), the sink tables'
    state before the batch, the lazy frames of each sink, and what to unpersist at the end."""

    batch_id: int
    txn_version: int
    params: dict[str, Scalar]
    tables: dict[str, TableState]
    frames: dict[str, DataFrame]
    flagged: dict[str, DataFrame] = field(default_factory=dict)
    #: each sink's result in this batch, as soon as it is written (views read their upstream's)
    results: dict[str, SinkResult] = field(default_factory=dict)
    persisted: list[DataFrame] = field(default_factory=list)
    source_dead_lettered: int | None = None

    def keep(self, frame: DataFrame) -> DataFrame:
        self.persisted.append(frame)
        return frame


@dataclass
class FanOutRun:
    """One run of a spec in one SparkSession."""

    spark: SparkSession
    spec: FanOutSpec
    report: RunReport = field(init=False)
    plan: BatchPlan = field(init=False)
    delta_log: DeltaLogReader = field(init=False)
    _sessions: dict[str, SparkSession] = field(default_factory=dict, init=False)
    _stopping: bool = field(default=False, init=False)
    _batch_error: RunError | None = field(default=None, init=False)
    dead_letters: DeadLetterWriter = field(init=False)
    _measure_plans: dict[str, MeasurePlan] = field(default_factory=dict, init=False)
    on_batch: Callable[[BatchReport], None] | None = None

    def __post_init__(self) -> None:
        self.plan = plan_batch(self.spec)
        self.delta_log = DeltaLogReader(self.spark)
        self.dead_letters = DeadLetterWriter(self.spec, self.delta_log)
        self.report = RunReport(
            app_id=self.spec.app_id, mode=self.spec.run.mode, slice_key=self.spec.slice_key, started_at=now_iso()
        )
        # MERGE txn ids are per-session SQL confs: one session per sink, reused across batches.
        self._sessions = {s.name: self.spark.newSession() for s in self.spec.sinks}

    # -- entry points -------------------------------------------------------------------
    def run(self) -> RunReport:
        self._log_plan()
        try:
            self._prepare_tables()
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
            self.report.finished_at = now_iso()
        return self.report

    def _log_plan(self) -> None:
        """What this run reads and writes, options included (credentials masked)."""
        source = self.spec.source
        log.info(
            "run %s (%s): source %s %s options %s",
            self.spec.app_id,
            self.spec.run.mode,
            source.format,
            source.path or source.table or "",
            redact_options(source.options),
        )
        for name in self.plan.order:
            sink = self.spec.sink(name)
            log.info(
                "  sink %s %s -> %s%s options %s",
                sink.name,
                sink.mode,
                sink.ref.target,
                f" (once {sink.upstream} is written)" if sink.upstream else "",
                redact_options(sink.options),
            )

    def _prepare_tables(self) -> None:
        """Before the first batch: every existing table a view reads records its changes, and
        tombstones past their retention are deleted."""
        for sink in self.spec.sinks:
            session = self._sessions[sink.name]
            what = f"preparing sink {sink.name}"  # another slice's run may be doing the same
            if self.spec.feeds_views(sink):
                retry_conflicts(partial(ensure_feed, session, sink.ref), what=what)
            tombstones = Tombstones.of(sink)
            if tombstones is not None:
                retry_conflicts(partial(tombstones.expire, session), what=what)

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
        try:
            finished = query.awaitTermination(int(timeout)) if timeout else query.awaitTermination()
        except Exception as exc:
            if self._batch_error is not None:  # ours, wrapped by Spark in a StreamingQueryException
                raise self._batch_error from exc
            raise
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

        def first_commit(sink: SinkSpec, app_id: str, version: int) -> int | None:
            return self.delta_log.first_commit(sink.ref, app_id, version)

        version = checkpoint_state.slice_run_version(self.spec, states, first_commit)
        log.info("slice %s of %s: run version %d", self.spec.slice_key, self.spec.app_id, version)
        self.write_batch(read_slice(self.spark, self.spec), version, tables=states)

    # -- one batch ----------------------------------------------------------------------
    def write_batch(self, batch: DataFrame, batch_id: int, tables: dict[str, TableState] | None = None) -> None:
        """Write every sink for one batch (the foreachBatch function). ``tables``: the sink tables'
        state if the caller has just read it (a slice run reads it to pick its run version)."""
        try:
            self._write_batch(batch, batch_id, tables)
        except RunError as exc:
            self._batch_error = exc  # re-raised as is once Spark stops the stream
            raise

    def _write_batch(self, batch: DataFrame, batch_id: int, tables: dict[str, TableState] | None) -> None:
        if self._stopping:
            raise StopRequested(f"batch {batch_id} not started: the run is stopping")
        started = time.monotonic()
        spec = self.spec
        state = BatchState(
            batch_id=int(batch_id),
            txn_version=int(batch_id),
            params={**spec.params, "batch_id": int(batch_id)},
            tables=tables if tables is not None else self._table_states(),
            frames={},
        )
        cached = False
        if spec.source.corrupt_records == "dead_letter":
            batch = self._capture_corrupt(batch, state)
            cached = True  # the good rows are a filter over the persisted raw batch
        batch = apply_source_where(batch, spec) if spec.run.mode == "stream" else slice_rows(batch, spec)
        state.frames[SOURCE] = batch
        if SOURCE in self.plan.persist and not cached:
            state.frames[SOURCE] = state.keep(batch.persist(StorageLevel.MEMORY_AND_DISK))
        result = BatchReport(
            batch_id=state.batch_id, txn_version=state.txn_version, source_dead_lettered=state.source_dead_lettered
        )
        try:
            for name in self.plan.order:  # lazy frames, upstreams first (views: when written)
                if spec.view_kind(spec.sink(name)) is None:
                    self._prepare_rows(spec.sink(name), state)
            result.sinks.extend(self._write_sinks(state))
        finally:
            for frame in state.persisted:
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

    def _prepare_rows(self, sink: SinkSpec, state: BatchState) -> None:
        """The sink's rows (lazy): its transforms, then its expectations. Downstream sinks read
        the rows that passed."""
        if sink.catch_all:
            sink = replace(sink, where=catch_all_where(self.spec, sink))
        rows = sink_rows(state.frames[sink.upstream or SOURCE], sink, state.params)
        if sink.expect:
            flagged = state.keep(flag_rows(rows, sink.expect, state.params).persist(StorageLevel.MEMORY_AND_DISK))
            state.flagged[sink.name] = flagged
            rows = passed_rows(flagged)
        if sink.name in self.plan.persist:
            rows = state.keep(rows.persist(StorageLevel.MEMORY_AND_DISK))
        state.frames[sink.name] = rows

    def _write_sinks(self, state: BatchState) -> list[SinkResult]:
        """Write every sink, each once its upstream is written, at most ``max_parallel`` at once.
        If a write fails, the writes already running finish (each is committed or not, never half
        done), no other starts, and the first error is raised."""
        plan = self.plan
        waiting = list(plan.schedule)
        written: dict[str, SinkResult] = {}
        workers = max(1, min(plan.max_parallel, len(waiting)))
        if workers == 1:
            for name in waiting:  # the schedule puts upstreams first
                written[name] = state.results[name] = self._write_one(self.spec.sink(name), state)
            return [written[name] for name in plan.order]
        error: BaseException | None = None
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fanout-sink") as pool:
            running: dict[Future[SinkResult], str] = {}
            while True:
                for name in [n for n in waiting if error is None and plan.ready(n, written)]:
                    if len(running) == workers:
                        break
                    waiting.remove(name)
                    running[pool.submit(self._write_one, self.spec.sink(name), state)] = name
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    failure = future.exception()
                    if failure is None:
                        written[name] = state.results[name] = future.result()
                    elif error is None:
                        error = failure
        if error is not None:
            raise error
        return [written[name] for name in plan.order]

    def _write_one(self, sink: SinkSpec, state: BatchState) -> SinkResult:
        if self.spec.view_kind(sink) is not None:
            return self._write_view(sink, state)
        started = time.monotonic()
        batch_id, txn_version = state.batch_id, state.txn_version
        app_id = sink_app_id(self.spec, sink)
        table = state.tables[sink.name]
        recorded = table.txn_version(app_id)
        if recorded is not None and recorded >= txn_version:
            # Committed already; so are its dead letters (written before the sink): nothing to count.
            result = SinkResult(sink.name, sink.ref.target, app_id, txn_version, "skipped", table.version, 0, 0.0)
            if recorded == txn_version:  # this very batch: say which commit holds it, and what it did
                at = result.committed_in = self.delta_log.first_commit(sink.ref, app_id, txn_version)
                earlier = self.delta_log.commits(sink.ref, at, at) if at is not None else []
                if earlier and earlier[0].txns.get(app_id) == txn_version:
                    result.operation, result.metrics = earlier[0].operation, earlier[0].metrics
                    result.rows_written = _rows_written(earlier[0].operation, earlier[0].metrics)
            log.info(result.log_line(batch_id))
            return result
        try:
            counts = self._check_quality(sink, state)
        except RunError:
            raise
        except Exception as exc:  # computing the sink's rows failed (bad data, a raise_error())
            raise RunError(
                f"rows for {sink.ref.target} failed: {first_line(exc)}", sink=sink.name, batch_id=batch_id
            ) from exc
        session = self._sessions[sink.name]
        session.sparkContext.setJobDescription(f"fanout {self.spec.app_id} batch {batch_id} sink {sink.name}")
        write = SinkWrite(
            sink=sink,
            session=session,
            rows=state.frames[sink.name],
            txn_app_id=app_id,
            txn_version=txn_version,
            params=state.params,
            replace_where=self._replace_where(sink, state),
            table_exists=table.exists,
            tombstone_app_id=tombstone_app_id(self.spec, sink),
            record_changes=self.spec.feeds_views(sink),
            keep=lambda frame: state.keep(frame.persist(StorageLevel.MEMORY_AND_DISK)),
        )
        try:
            retry_conflicts(lambda: self._attempt(write), what=f"batch {batch_id} sink {sink.name}")
        except Exception as exc:
            mismatch = explain_mismatch(session, sink, write.rows) if table.exists else None
            detail = f"schema mismatch: {mismatch}" if mismatch else first_line(exc)
            raise RunError(f"write to {sink.ref.target} failed: {detail}", sink=sink.name, batch_id=batch_id) from exc
        tombstones = Tombstones.of(sink)
        if tombstones is not None and txn_version % EXPIRE_EVERY == EXPIRE_EVERY - 1:
            tombstones.expire(session)  # a long-running stream expires them too, not only at start
        commit = self.delta_log.commit_carrying(sink.ref, table, app_id, txn_version)
        result = self._result(sink, app_id, txn_version, commit, started)
        result.add_counts(counts)
        log.info(result.log_line(batch_id))
        return result

    def _write_view(self, sink: SinkSpec, state: BatchState) -> SinkResult:
        """Bring a view up to its upstream table's current version (``driver.views``); in batch
        mode under a lock, as two slices' runs may write the same view at once."""
        started = time.monotonic()
        assert sink.upstream is not None
        upstream = self.spec.sink(sink.upstream)
        app_id = sink_app_id(self.spec, sink)
        with self._view_lock(sink):
            table = self.delta_log.state(sink.ref)
            source = self.delta_log.state(upstream.ref)
            if source.version is None:
                raise RunError(f"upstream table {upstream.ref.target} does not exist", sink=sink.name)
            recorded = table.txn_version(app_id)
            if recorded is not None and recorded > source.version:
                log.warning(
                    "sink %s: recorded version %s of %s, which is now at %s (recreated?): rebuilding the view",
                    sink.name,
                    recorded,
                    upstream.name,
                    source.version,
                )
                recorded = None
            done = state.results.get(upstream.name)
            batch_commit = done.table_version if done is not None and done.status == "written" else None
            rows_only = self.spec.appends_rows(upstream)
            change_range = plan_range(recorded, source.version, batch_commit, rows_only)
            if change_range is None:
                result = SinkResult(sink.name, sink.ref.target, app_id, recorded or 0, "skipped", table.version, 0, 0.0)
                log.info(
                    "batch %s sink %s: view of %s already at version %s",
                    state.batch_id,
                    sink.name,
                    upstream.name,
                    recorded,
                )
                return result
            write = ViewWrite(
                sink=replace(sink, where=catch_all_where(self.spec, sink)) if sink.catch_all else sink,
                kind=self.spec.view_kind(sink) or "keyed",
                session=self._sessions[sink.name],
                upstream=upstream,
                keys=self.spec.table_keys(sink),
                range=change_range,
                params=state.params,
                txn_app_id=app_id,
                table_exists=table.exists,
                batch_rows=state.frames.get(upstream.name),
                record_changes=self.spec.feeds_views(sink),
                keep=lambda frame: state.keep(frame.persist(StorageLevel.MEMORY_AND_DISK)),
            )
            write = self._rebuild_if_reshaped(write)
            write.session.sparkContext.setJobDescription(
                f"fanout {self.spec.app_id} batch {state.batch_id} view {sink.name}"
            )
            try:
                counts = self._apply_view(write, state)
            except RunError:
                raise
            except Exception as exc:
                if not (missing_feed(exc) and write.range.source == "feed"):
                    raise RunError(
                        f"write to {sink.ref.target} failed: {first_line(exc)}", sink=sink.name, batch_id=state.batch_id
                    ) from exc
                log.warning(
                    "sink %s: %s's changes of versions %s..%s are no longer recorded: rebuilding the view",
                    sink.name,
                    upstream.name,
                    write.range.first,
                    write.range.last,
                )
                write = replace(write, range=ChangeRange(-1, write.range.last, "rebuild"))
                counts = self._apply_view(write, state)
            commit = self.delta_log.commit_carrying(sink.ref, table, app_id, write.txn_version)
        result = self._result(sink, app_id, write.txn_version, commit, started)
        result.view = {"upstream": upstream.name, "applied": write.range.describe, "source": write.range.source}
        result.add_counts(counts)
        log.info(result.log_line(state.batch_id))
        return result

    def _apply_view(self, write: ViewWrite, state: BatchState) -> QualityCounts | None:
        """Read the upstream's changes, check the view's expectations on what enters it, write."""
        sink = write.sink
        changes = write.keep(upstream_changes(write))
        rows = view_rows(write, changes)
        flagged = counts = None
        if sink.expect:
            flagged = write.keep(flag_rows(rows, sink.expect, state.params))
            entering = flagged.where(F.col(SIGN) > 0).drop(SIGN) if write.kind == "aggregate" else flagged
            counts = self._check_quality(sink, state, entering, write.txn_version)
        plan = self._aggregate_plan(write) if write.kind == "aggregate" else None
        retry_conflicts(
            lambda: write_view(write, changes, flagged, plan), what=f"batch {state.batch_id} sink {sink.name}"
        )
        if write.kind == "changes":
            state.frames[sink.name] = passed_rows(flagged) if flagged is not None else rows
        return counts

    def _aggregate_plan(self, write: ViewWrite) -> MeasurePlan:
        """How an aggregate view keeps its measures (once per run: it depends on the spec and the
        upstream's schema only)."""
        sink = write.sink
        plan = self._measure_plans.get(sink.name)
        if plan is None:
            rows = view_rows(write, upstream_changes(write)).drop(SIGN)  # analysed, not run
            plan = self._measure_plans[sink.name] = measure_plan(sink, rows, write.params)
            if not plan.decomposable:
                log.info("sink %s: touched groups are recomputed (%s)", sink.name, plan.reason)
        return plan

    def _rebuild_if_reshaped(self, write: ViewWrite) -> ViewWrite:
        """An aggregate whose table lacks a column its measures need now (they were edited) is
        rebuilt from the upstream table instead of updated."""
        if write.kind != "aggregate" or not write.table_exists or write.range.source == "rebuild":
            return write
        aggregate = write.sink.aggregate
        assert aggregate is not None
        existing = set(read_table(write.session, write.sink.ref).columns)
        wanted = {*aggregate.group_columns, *aggregate.measures, *(s.name for s in self._aggregate_plan(write).states)}
        if wanted <= existing:
            return write
        log.warning("sink %s: its table lacks %s: rebuilding it", write.sink.name, ", ".join(sorted(wanted - existing)))
        return replace(write, range=ChangeRange(-1, write.range.last, "rebuild"))

    @contextmanager
    def _view_lock(self, sink: SinkSpec) -> Iterator[None]:
        """Slices of one spec may run at once and write the same view: one at a time (a stream is
        one run already, under its run lock)."""
        if self.spec.run.mode == "stream":
            yield
            return
        options = None
        if is_object_store(self.spec.run.checkpoint):  # its lease: with the credentials Spark has
            options = reader_options_from_spark(dict(self.spark.sparkContext.getConf().getAll()))
        lock = RunLock.for_view(self.spec, sink.name, options)
        if lock is None:
            yield
            return
        lock.wait()
        try:
            yield
        finally:
            lock.release()

    def _attempt(self, write: SinkWrite) -> None:
        """One try of a sink write. A retry after a conflict looks at the table again: two slices'
        runs that both found no table race to create it, and the loser must MERGE into the
        winner's table, not append its first batch to it (a merge sink would get keys twice)."""
        exists = self.delta_log.state(write.sink.ref).exists
        write_sink(write if exists == write.table_exists else replace(write, table_exists=exists))

    def _result(
        self, sink: SinkSpec, app_id: str, txn_version: int, commit: CommitInfo | None, started: float
    ) -> SinkResult:
        """What a write did: the commit that carried its txn id, or skipped (Delta found the id)."""
        return SinkResult(
            sink=sink.name,
            target=sink.ref.target,
            txn_app_id=app_id,
            txn_version=txn_version,
            status="written" if commit is not None else "skipped",
            table_version=commit.version if commit is not None else _version(self.delta_log.known(sink.ref)),
            rows_written=_rows_written(commit.operation, commit.metrics) if commit else 0,
            duration_s=round(time.monotonic() - started, 3),
            operation=commit.operation if commit else None,
            metrics=commit.metrics if commit else {},
        )

    def _check_quality(
        self, sink: SinkSpec, state: BatchState, flagged: DataFrame | None = None, version: int | None = None
    ) -> QualityCounts | None:
        """Count the sink's rows by outcome; fail on ``fail`` expectations; write dead letters
        (with txn version ``version``: a view's, else the batch's).

        Dead letters are written before the sink: if the run dies between the two, the rerun skips
        the dead letters (their own txn id) and writes the sink."""
        flagged = flagged if flagged is not None else state.flagged.get(sink.name)
        if flagged is None:
            return None
        counts = count_rows(flagged)
        if counts.failed:
            names = ", ".join(failing_examples(flagged))
            raise RunError(
                f"expectation(s) {names} failed on {counts.failed} row(s) (on_fail: fail)",
                sink=sink.name,
                batch_id=state.batch_id,
            )
        if counts.dead_lettered:
            letters = dead_letter_rows(flagged, sink.name, state.batch_id, self.spec.slice_key)
            view = version is not None
            txn_version = state.txn_version if version is None else version
            self.dead_letters.write(sink.name, letters, state.batch_id, txn_version, by_slice=not view)
        return counts

    def _capture_corrupt(self, raw: DataFrame, state: BatchState) -> DataFrame:
        """Send source records Spark could not parse to the dead-letter table (raw text in
        ``_raw``); return the parsed rows. The raw batch is persisted: Spark refuses to filter on
        the corrupt-record column of an uncached file scan, and it is read twice anyway."""
        raw = state.keep(raw.persist(StorageLevel.MEMORY_AND_DISK))
        corrupt = F.col(CORRUPT_COLUMN)
        letters = (
            raw.where(corrupt.isNotNull())
            .select(corrupt.alias("_raw"))
            .withColumns(
                {
                    "_error_reason": F.lit("unparseable source record"),
                    "_sink": F.lit(SOURCE_DEAD_LETTERS),
                    "_batch_id": F.lit(state.batch_id).cast("long"),
                    "_processed_at": F.current_timestamp(),
                }
            )
        )
        if self.spec.slice_key is not None:
            letters = letters.withColumn("_slice", F.lit(self.spec.slice_key))
        # Written even when empty (no count() to decide): the commit records the batch's progress.
        state.source_dead_lettered = self.dead_letters.write(
            SOURCE_DEAD_LETTERS, letters, state.batch_id, state.txn_version, by_slice=True
        )
        return raw.where(corrupt.isNull()).drop(CORRUPT_COLUMN)

    def _replace_where(self, sink: SinkSpec, state: BatchState) -> str | None:
        """The predicate an overwrite replaces: the sink's own, else (batch mode) the slice's."""
        if sink.aggregate is not None or sink.mode == "merge":
            return None
        predicate = sink.replace_where
        if predicate is None and self.spec.run.slice is not None:
            predicate = self.spec.run.slice.where  # a backfill append replaces its slice
        return render_with_literals(predicate, state.params) if predicate else None

    def _table_states(self) -> dict[str, TableState]:
        """Each sink table's state now. A table this run has seen that is gone, replaced (another
        table id) or rolled back fails the run: writing on would rebuild it from this batch only,
        and its txn entries (what makes replays safe) would be lost without a word."""
        states = {}
        for sink in self.spec.sinks:
            before = self.delta_log.known(sink.ref)
            now = self.delta_log.state(sink.ref)
            if before is not None and (
                not now.exists or now.table_id != before.table_id or (now.version or 0) < (before.version or 0)
            ):
                what = "deleted" if not now.exists else f"replaced (now version {now.version}, table id {now.table_id})"
                raise RunError(
                    f"table {sink.ref.target} was {what} while this run was writing it (it was at version "
                    f"{before.version}, table id {before.table_id}). Nothing more is written to it: restore "
                    "the table and rerun (replays are skipped by txn id), or see docs/guarantees.md to "
                    "rebuild it.",
                    sink=sink.name,
                )
            states[sink.name] = now
        return states


class StopRequested(Exception):
    """Raised in foreachBatch, before any write, once a timed stream is stopping."""


def _version(state: TableState | None) -> int | None:
    return state.version if state is not None else None


def _rows_written(operation: str, metrics: dict[str, int]) -> int:
    if operation == "MERGE":
        return sum(metrics.get(k, 0) for k in ("numTargetRowsInserted", "numTargetRowsUpdated", "numTargetRowsDeleted"))
    return metrics.get("numOutputRows", 0)
