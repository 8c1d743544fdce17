"""Run one example DAG with ``dag.test()`` in a fresh process (own AIRFLOW_HOME, SQLite), so
Airflow's global state never leaks between tests. Used by the Airflow tests as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def main() -> int:
    dag_file, dag_id, logical_date, out = sys.argv[1:5]
    import runpy
    from datetime import datetime

    from airflow.sdk import DAG

    found = runpy.run_path(dag_file)
    dags = [v for v in found.values() if isinstance(v, DAG)]
    dag = next((d for d in dags if d.dag_id == dag_id), None)
    if dag is None:
        print(f"no DAG {dag_id} in {dag_file}", file=sys.stderr)
        return 3
    run = dag.test(logical_date=datetime.fromisoformat(logical_date))
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    Path(out).write_text(json.dumps({"state": str(run.state), "tasks": states}))
    return 0


def migrate(env: dict[str, str]) -> None:
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=600)


if __name__ == "__main__":
    sys.exit(main())
