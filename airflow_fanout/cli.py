"""``airflow-fanout``: validate, run and watch fan-out specs without Airflow.

airflow-fanout validate SPEC [--param k=v ...]   check a spec (exit 2 if invalid)
airflow-fanout run SPEC [--param k=v ...]        run the driver through spark-submit
airflow-fanout status SPEC [--param k=v ...]     where each sink's Delta txn stands
airflow-fanout graph SPEC [-o FILE] [--status]   the spec as a graph (SVG, or PNG for *.png)
airflow-fanout schema                            print the spec's JSON Schema
airflow-fanout fetch-jars --ivy DIR              resolve the Delta jars once into DIR/jars (and the
                                                 Hadoop S3A connector into DIR/s3a/jars)
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from airflow_fanout.driver.main import parse_param
from airflow_fanout.exceptions import SpecError
from airflow_fanout.spark_install import SparkNotFoundError
from airflow_fanout.spec.model import FanOutSpec
from airflow_fanout.spec.secrets import secret_values
from airflow_fanout.spec.validate import load_spec_file, parse_spec, spec_schema

EXIT_OK, EXIT_FAILED, EXIT_INVALID_SPEC = 0, 1, 2


_param = parse_param  # also parses --conf KEY=VALUE


def _load(args: argparse.Namespace) -> FanOutSpec:
    return parse_spec(load_spec_file(args.spec), dict(args.param))


def cmd_validate(args: argparse.Namespace) -> int:
    spec = _load(args)
    print(f"{args.spec}: valid ({spec.run.mode}, {len(spec.sinks)} sink(s): {', '.join(s.name for s in spec.sinks)})")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from airflow_fanout.submit import run_driver, submit_command

    spec = _load(args)  # fail with exit 2 before Spark starts
    confs = dict(_param(c) for c in args.conf)
    report = args.report
    if args.deploy_mode == "cluster" and report is None and "://" in spec.run.checkpoint:
        from datetime import datetime, timezone

        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        report = f"{spec.run.checkpoint.rstrip('/')}/_fanout/reports/cli/{stamp}.json"
    secrets = secret_values(load_spec_file(args.spec), confs)
    command = submit_command(
        args.spec,
        params=dict(args.param),
        master=args.master,
        report=report,
        confs={k: str(v) for k, v in confs.items()},
        spark_log=args.spark_log_level,
        s3a=spec.uses_s3,
        options={**dict(args.submit_option), **({"deploy_mode": args.deploy_mode} if args.deploy_mode else {})},
        app_name=f"fanout-{spec.app_id}",
    )
    code, report_path = run_driver(command, secrets=secrets, verbose=args.verbose)
    if args.deploy_mode == "cluster":  # the driver's stdout stays on the cluster
        report_path = report
    if report_path and report_path.endswith(".json"):
        from airflow_fanout.storage import reader_options_from_spark

        # a report in the lake is read with the credentials given to Spark (else the environment's)
        print_report(report_path, reader_options_from_spark({k: str(v) for k, v in confs.items()}) or None)
        print(report_path)
    return code


def print_report(report_path: str, storage_options: dict[str, str] | None = None) -> None:
    """A per-sink summary of a run report: table, version, rows written, txn id."""
    from airflow_fanout.lake_files import read_text
    from airflow_fanout.status import format_table

    text = read_text(report_path, storage_options)  # a local file, or in the lake
    if text is None:
        print(f"no run report at {report_path}")
        return
    report: dict[str, Any] = json.loads(text)
    rows = [["sink", "table", "version", "rows written", "txn app id", "txn version"]]
    for name, t in report.get("sinks", {}).items():
        rows.append(
            [
                name,
                str(t["target"]),
                str(t.get("table_version")),
                str(t["rows_written"]),
                str(t.get("txn_app_id")),
                str(t.get("txn_version")),
            ]
        )
    batches = len(report.get("batches", []))
    print(f"run {report['status']}: {report['app_id']} ({report['mode']}), {batches} batch(es)")
    if len(rows) > 1:
        print(format_table(rows))
    if report.get("error"):
        print(f"error: {report['error']}")


def cmd_status(args: argparse.Namespace) -> int:
    from airflow_fanout.status import format_table, sink_statuses

    spec = _load(args)
    rows = [["sink", "table", "version", "txn app id", "txn version", "view of", "last commit"]]
    for s in sink_statuses(spec):
        rows.append(
            [
                s.sink,
                s.target,
                _dash(s.table_version),
                s.txn_app_id,
                _dash(s.txn_version),
                s.follows,
                s.last_commit or "-",
            ]
        )
    print(format_table(rows))
    return EXIT_OK


def _dash(value: object) -> str:
    return "-" if value is None else str(value)


def cmd_graph(args: argparse.Namespace) -> int:
    from airflow_fanout.graph import SinkFacts, spec_graph, to_png, to_svg
    from airflow_fanout.status import sink_statuses

    spec = _load(args)
    facts = None
    if args.status:
        facts = {s.sink: SinkFacts(s.table_version, s.txn_version) for s in sink_statuses(spec)}
    graph = spec_graph(spec, facts)
    if args.output is None:
        print(to_svg(graph))
    elif args.output.lower().endswith(".png"):
        to_png(graph, args.output)
        print(args.output)
    else:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(to_svg(graph) + "\n")
        print(args.output)
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(spec_schema(), indent=2))
    return EXIT_OK


def cmd_fetch_jars(args: argparse.Namespace) -> int:
    from airflow_fanout.submit import fetch_delta_jars, fetch_s3a_jars

    jars = fetch_delta_jars(args.ivy)
    print(f"{len(jars)} jar(s) in {args.ivy}/jars")
    if not args.delta_only:
        s3a = fetch_s3a_jars(args.ivy)
        print(f"{len(s3a)} jar(s) of the Hadoop S3A connector in {args.ivy}/s3a/jars")
        jars += s3a
    return EXIT_OK if jars else EXIT_FAILED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="airflow-fanout", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func, text in (
        ("validate", cmd_validate, "check a spec"),
        ("run", cmd_run, "run the driver through spark-submit"),
        ("status", cmd_status, "txn versions of each sink"),
        ("graph", cmd_graph, "the spec as a graph: source, sinks, from edges, routes, dead letters"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("spec", help="path of the JSON spec")
        p.add_argument("--param", action="append", type=_param, default=[], metavar="NAME=VALUE")
        p.set_defaults(func=func)
        if name == "graph":
            p.add_argument("-o", "--output", help="write here (.svg, or .png with Pillow); default: SVG on stdout")
            p.add_argument("--status", action="store_true", help="add each table's version and txn version (no JVM)")
        if name == "run":
            p.add_argument("--master", default="local[*]", help="Spark master (default local[*])")
            p.add_argument(
                "--report", help="where the driver writes its JSON run report (a path, or a URL in the lake)"
            )
            p.add_argument(
                "--deploy-mode",
                choices=("client", "cluster"),
                help="cluster: the driver starts on the cluster; the spec travels with --files and "
                "the report goes beside an object-store checkpoint (or to --report, a URL)",
            )
            p.add_argument(
                "--submit-option",
                action="append",
                type=_param,
                default=[],
                metavar="NAME=VALUE",
                help="a spark-submit setting by SparkSubmitHook's name (executor_memory=4g, num_executors=8, "
                "yarn_queue=etl, keytab=..., principal=...; repeatable)",
            )
            p.add_argument(
                "--conf", action="append", default=[], metavar="KEY=VALUE", help="extra Spark conf (repeatable)"
            )
            p.add_argument(
                "--spark-log-level",
                metavar="LEVEL",
                help="Spark's own log level (default: $FANOUT_SPARK_LOG_LEVEL, else WARN)",
            )
            p.add_argument(
                "-v",
                "--verbose",
                action="store_true",
                help="print every line of the run (default: a progress line per batch, warnings, errors)",
            )
    p = sub.add_parser("schema", help="print the spec's JSON Schema")
    p.set_defaults(func=cmd_schema)
    p = sub.add_parser("fetch-jars", help="resolve the Delta jars once into DIR/jars, S3A's into DIR/s3a/jars")
    p.add_argument("--ivy", required=True, metavar="DIR")
    p.add_argument("--delta-only", action="store_true", help="skip the Hadoop S3A connector")
    p.set_defaults(func=cmd_fetch_jars)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except SpecError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_INVALID_SPEC
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID_SPEC
    except SparkNotFoundError as exc:  # what to install, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return code


if __name__ == "__main__":
    sys.exit(main())
