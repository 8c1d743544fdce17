"""Land sample events for the example DAGs in the S3 lake: ``$FANOUT_LAKE/landing/batch-<n>.json``
(JSON lines, the same events as ``python -m airflow_fanout.examples.demo`` lands in a local lake).

The S3 variant of the compose stack (``compose.s3.yaml``) mounts this file at
``/opt/fanout/land_events.py`` in the Airflow containers:

    docker compose -f docker/compose.yaml -f docker/compose.s3.yaml exec airflow-scheduler \\
      python /opt/fanout/land_events.py            # 3 batches, then one more per call

Credentials and endpoint come from the environment (``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``,
``AWS_ALLOW_HTTP`` ...), as for the sensor. Each call lands batches after the last one there."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

import obstore

from airflow_fanout.sample_data import generate_events
from airflow_fanout.storage import object_path, object_store

ROWS_PER_BATCH = 500
INITIAL_BATCHES = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", default=os.environ.get("FANOUT_LAKE"), help="default: $FANOUT_LAKE")
    parser.add_argument("--batches", type=int, help=f"how many to land (default {INITIAL_BATCHES}, then 1)")
    parser.add_argument("--rows", type=int, default=ROWS_PER_BATCH, help="events per batch")
    args = parser.parse_args(argv)
    where = object_path(f"{args.lake}/landing") if args.lake else None
    if where is None:
        print(
            f"--lake / $FANOUT_LAKE is {args.lake!r}, not an object-store URL (s3a://bucket/prefix); "
            "for a local lake: python -m airflow_fanout.examples.demo --root <folder>",
            file=sys.stderr,
        )
        return 2
    store = object_store(where)  # credentials from the environment
    landed = [
        int(found.group(1))
        for page in obstore.list(store, f"{where.key}/")
        for meta in page
        if (found := re.search(r"/batch-(\d+)\.json$", meta["path"]))
    ]
    first = max(landed, default=-1) + 1
    count = args.batches if args.batches is not None else (INITIAL_BATCHES if not landed else 1)
    for batch in range(first, first + count):
        key = f"{where.key}/batch-{batch:04d}.json"
        body = "".join(json.dumps(event.to_json()) + "\n" for event in generate_events(batch, args.rows))
        obstore.put(store, key, body.encode("utf-8"))  # one PUT: a stream never sees half a file
        print(f"landed s3a://{where.bucket}/{key} ({args.rows} events)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
