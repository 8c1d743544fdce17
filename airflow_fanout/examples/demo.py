"""``make demo``: generate sample events, run the medallion spec through real spark-submit on
local Spark, and print where each table is and what was written.

Rerunning it with no new input writes nothing (the stream's checkpoint has consumed every file);
``--new-batch`` lands one more file first. ``make demo-clean`` starts over."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from airflow_fanout.examples.medallion import medallion_stream_spec
from airflow_fanout.sample_data import generate_events, write_landing_batch

INITIAL_BATCHES = 3
ROWS_PER_BATCH = 500


def table_rows(path: str) -> int | None:
    """Rows in a Delta table, from its add actions' stats (delta-rs, no Spark)."""
    from deltalake import DeltaTable

    if not DeltaTable.is_deltatable(path):
        return None
    return int(DeltaTable(path).to_pyarrow_dataset().count_rows())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default=".demo", help="folder for landing files, tables, checkpoint")
    parser.add_argument("--new-batch", action="store_true", help="land one more batch of events first")
    args = parser.parse_args(argv)

    from airflow_fanout.cli import print_report
    from airflow_fanout.status import format_table
    from airflow_fanout.submit import run_driver, submit_command

    root = Path(args.root).resolve()
    landing = root / "landing"
    existing = sorted(landing.glob("batch-*.json")) if landing.exists() else []
    wanted = max(INITIAL_BATCHES, len(existing) + (1 if args.new_batch else 0))
    for batch in range(len(existing), wanted):
        write_landing_batch(landing, batch, generate_events(batch, ROWS_PER_BATCH))
        print(f"landed {landing}/batch-{batch:04d}.json ({ROWS_PER_BATCH} events)")

    spec_path = root / "medallion.json"
    spec = medallion_stream_spec(root)
    spec_path.write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    print(f"spec: {spec_path}\nrunning the driver with spark-submit on local[*] ...", flush=True)
    code, report_path = run_driver(submit_command(str(spec_path), master="local[*]"))
    if not report_path or not report_path.endswith(".json"):
        print(f"driver failed (exit {code}) without a report", file=sys.stderr)
        return code or 1
    print()
    print_report(report_path)
    print("\ntables now:")
    rows = [["sink", "table", "rows"]]
    rows += [[sink["name"], sink["path"], str(table_rows(sink["path"]))] for sink in spec["sinks"]]
    print(format_table(rows))
    print(f"\nrun report: {report_path}")
    print(
        "run again: make demo (nothing new -> nothing written); "
        "with new events: .venv/bin/python -m airflow_fanout.examples.demo --new-batch"
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
