"""The spark-submit entry point of the fan-out driver.

    spark-submit [--packages io.delta:...] airflow_fanout/driver/main.py --spec spec.json \
        [--param ds=2026-11-01 ...] [--report report.json]

Exit codes: 0 done, 1 run failed, 2 invalid spec (nothing read, nothing written), 3 another run
of the same spec (and slice) is in progress (nothing read, nothing written).
The last line on stdout is the path of the JSON run report."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

if __package__ in (None, ""):
    # Started as a script by spark-submit: make the package importable (it sits two levels up,
    # or is shipped with --py-files). Last, not first: two levels up may be a site-packages that
    # holds pyspark-client's `pyspark`, which must not shadow the pyspark.zip of the Spark that
    # runs this driver (spark-submit puts it on PYTHONPATH).
    sys.path.append(str(Path(__file__).resolve().parents[2]))

import json
from datetime import timezone
from typing import TYPE_CHECKING, Any

from airflow_fanout.exceptions import ConcurrentRunError, FanOutError, SpecError, SpecIssue, first_line
from airflow_fanout.spec.model import FanOutSpec, Scalar
from airflow_fanout.spec.secrets import install_log_redaction, redact, secret_values
from airflow_fanout.spec.validate import load_spec_file, parse_spec

if TYPE_CHECKING:
    from airflow_fanout.driver.report import RunReport

EXIT_OK, EXIT_FAILED, EXIT_INVALID_SPEC, EXIT_ALREADY_RUNNING = 0, 1, 2, 3
log = logging.getLogger("airflow_fanout.driver")


def parse_param(text: str) -> tuple[str, Scalar]:
    """``name=value`` from ``--param``; the value stays a string (typed by the expression)."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--param needs name=value, got {text!r}")
    return name, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="airflow_fanout.driver", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spec", required=True, help="path of the JSON sink spec")
    parser.add_argument(
        "--param",
        action="append",
        type=parse_param,
        default=[],
        metavar="NAME=VALUE",
        help="set a spec parameter (repeatable); bound as a literal, never pasted into SQL",
    )
    parser.add_argument(
        "--report", help="where to write the JSON run report (default: <checkpoint>/_fanout/reports/<utc time>.json)"
    )
    return parser


def default_report_path(spec: FanOutSpec) -> str:
    from datetime import datetime

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    checkpoint = spec.run.checkpoint
    if "://" in checkpoint and not checkpoint.startswith("file:"):  # written through Hadoop
        return f"{checkpoint.rstrip('/')}/_fanout/reports/{stamp}.json"
    local = checkpoint.removeprefix("file://").removeprefix("file:")
    return str(Path(local) / "_fanout" / "reports" / f"{stamp}.json")


def read_spec(path: str) -> Any:
    """The spec document at ``path``: a local file, or a URL (a spec stored in the lake, as a
    driver in cluster deploy mode gets it) read through Hadoop."""
    from airflow_fanout.driver.hadoop_files import is_url, read_text

    if not is_url(path):
        return load_spec_file(path)
    try:
        return json.loads(read_text(path))
    except ValueError as exc:
        raise SpecError([SpecIssue("", f"{path}: not valid JSON: {exc}")]) from exc


def write_report(report: RunReport, path: str, secrets: list[str]) -> str:
    """Write the run report locally, or to a URL through Hadoop (the checkpoint's folder in an
    object store, where the operator reads it back whatever the deploy mode)."""
    from airflow_fanout.driver.hadoop_files import is_url, write_text

    return write_text(path, report.to_text(secrets)) if is_url(path) else report.write(path, secrets=secrets)


def main(argv: list[str] | None = None) -> int:
    # force=True: pyspark may already have put a handler on stdout, and stdout is reserved for
    # the report path (its last line).
    logging.basicConfig(
        level=os.environ.get("FANOUT_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    logging.getLogger("py4j").setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    secrets: list[str] = []
    try:
        doc = read_spec(args.spec)
        # Before anything can log or fail: credentials in options never reach a log or report.
        secrets = secret_values(doc) if isinstance(doc, dict) else []
        install_log_redaction(secrets)
        spec = parse_spec(doc, dict(args.param))
    except SpecError as exc:
        print(redact(str(exc), secrets), file=sys.stderr)
        return EXIT_INVALID_SPEC
    except OSError as exc:
        print(f"cannot read spec {args.spec}: {exc}", file=sys.stderr)
        return EXIT_INVALID_SPEC

    from airflow_fanout.driver.preflight import parse_expressions

    try:  # Spark's parser through the JVM gateway: no SparkContext yet, nothing touched
        parse_expressions(doc)
    except SpecError as exc:
        print(redact(str(exc), secrets), file=sys.stderr)
        return EXIT_INVALID_SPEC

    from airflow_fanout.driver.report import RunReport, now_iso
    from airflow_fanout.driver.run_lock import RunLock

    report_path = args.report or default_report_path(spec)
    from airflow_fanout.storage import is_object_store

    lock = RunLock.for_spec(spec, storage_options_of_run() if is_object_store(spec.run.checkpoint) else None)
    try:
        if lock is not None:
            lock.acquire()
    except ConcurrentRunError as exc:
        log.error("not started: %s", exc)
        refused = RunReport(spec.app_id, spec.run.mode, spec.slice_key, now_iso(), now_iso(), "failed", str(exc))
        print(write_report(refused, report_path, secrets), flush=True)
        return EXIT_ALREADY_RUNNING
    try:
        return _run(spec, report_path, secrets)
    finally:
        if lock is not None:
            lock.release()


def storage_options_of_run() -> dict[str, str]:
    """The object-store credentials Spark was given (``spark.hadoop.fs.s3a.*``), for the driver's
    own reads and writes outside Spark (the run lock): the spark-submit JVM holds the confs as
    system properties before any SparkContext exists."""
    from pyspark import SparkConf

    from airflow_fanout.storage import reader_options_from_spark

    return reader_options_from_spark(dict(SparkConf().getAll()))


def _run(spec: FanOutSpec, report_path: str, secrets: list[str]) -> int:
    from airflow_fanout.driver.runner import FanOutRun
    from airflow_fanout.driver.session import build_session

    try:
        spark = build_session(f"fanout-{spec.app_id}")
    except FanOutError as exc:
        log.error("cannot start: %s", exc)
        return EXIT_FAILED
    run = FanOutRun(spark, spec)
    run.report.spark_app_id = spark.sparkContext.applicationId
    run.report.spark_ui = spark.sparkContext.uiWebUrl
    log.info("spark application %s, UI %s", run.report.spark_app_id, run.report.spark_ui or "-")
    # The report grows with each batch, so a run killed later leaves what it committed on record
    # (the operator reports a retried run's batches across its tries).

    def keep_report(_batch: object) -> None:
        write_report(run.report, report_path, secrets)

    run.on_batch = keep_report
    code = EXIT_OK
    try:
        run.run()
    except FanOutError as exc:
        log.error("run failed: %s", exc)
        code = EXIT_FAILED
    except Exception as exc:  # a Spark or py4j error outside any sink write
        log.error("run failed: %s", first_line(exc))
        code = EXIT_FAILED
    finally:
        path = write_report(run.report, report_path, secrets)
        print(path, flush=True)
        spark.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
