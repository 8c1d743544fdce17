"""Run every benchmark, one after another, each in its own process (no JVM or Airflow state
shared between workloads), then write the tables of ``BENCHMARKS.md`` from the results.

    python -m benchmarks            # make bench: the full sizes (about 3 hours on 2 cores)
    python -m benchmarks --quick    # make bench-quick: small sizes, about 6 minutes

Nothing else may run on the machine meanwhile: every contender is timed on the same cores.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

#: workload -> module; the order puts the cheap ones first so a broken set-up fails early
WORKLOADS = {
    "status": "benchmarks.status_check",
    "status_s3": "benchmarks.status_check_s3",
    "operator": "benchmarks.operator_overhead",
    "fanout": "benchmarks.fanout",
    "views": "benchmarks.view_cost",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (make bench-quick)")
    parser.add_argument("--only", nargs="+", choices=sorted(WORKLOADS), help="run only these workloads")
    args = parser.parse_args(argv)
    started = time.monotonic()
    for name, module in WORKLOADS.items():
        if args.only and name not in args.only:
            continue
        command = [sys.executable, "-m", module, *(["--quick"] if args.quick else [])]
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        begun = time.monotonic()
        code = subprocess.call(command)
        print(f"== {name}: exit {code} after {time.monotonic() - begun:.0f} s", flush=True)
        if code != 0:
            return code
    subprocess.check_call([sys.executable, "-m", "benchmarks.report"])
    print(f"== all done in {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
