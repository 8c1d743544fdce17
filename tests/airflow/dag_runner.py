"""Run one example DAG with ``dag.test()`` in a fresh process (own AIRFLOW_HOME, SQLite), so
Airflow's global state never leaks between tests. Used by the Airflow tests as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


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
    tis = run.get_task_instances()
    states = {ti.task_id: str(ti.state) for ti in tis}
    result = {"state": str(run.state), "tasks": states, **stored_values(run.run_id, tis)}
    Path(out).write_text(json.dumps(result, default=str))
    return 0


def stored_values(run_id: str, tis: list[Any]) -> dict[str, Any]:
    """What Airflow stored for each task: its XCom return value, its rendered template fields
    (what the UI shows), and the run's Asset events (asset name -> extra)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    xcoms: dict[str, Any] = {}
    rendered: dict[str, Any] = {}
    events: dict[str, Any] = {}
    with create_session() as session:
        query = select(AssetModel.name, AssetEvent.extra).join(AssetModel, AssetModel.id == AssetEvent.asset_id)
        for name, extra in session.execute(query.where(AssetEvent.source_run_id == run_id)):
            events[name] = extra
        for ti in tis:
            query = XComModel.get_many(run_id=run_id, key="return_value", task_ids=ti.task_id, dag_ids=ti.dag_id)
            row = session.scalars(query).first()
            if row is not None:
                xcoms[ti.task_id] = XComModel.deserialize_value(row)
            rendered[ti.task_id] = RenderedTaskInstanceFields.get_templated_fields(ti, session=session)
    return {"xcom": xcoms, "rendered": rendered, "asset_events": events}


def migrate(env: dict[str, str]) -> None:
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=600)


if __name__ == "__main__":
    sys.exit(main())
