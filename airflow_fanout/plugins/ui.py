"""``FanOutPlugin``: the fan-out page in the Airflow UI (Airflow 3.1+ plugins: a FastAPI app
mounted at ``/fanout`` and external views in the navigation, on DAG pages and on task pages).

The page needs a logged-in user (the UI's session cookie, or a bearer token) and shows only the
DAGs that user may read. It reads the metadata database (serialized DAGs, the tasks' last XCom
and rendered fields) and each sink's Delta log, never a JVM."""

from __future__ import annotations

import asyncio
from typing import Any

from airflow.api_fastapi.core_api.security import GetUserDep
from airflow.plugins_manager import AirflowPlugin
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse

from airflow_fanout.plugins.page import FANOUT_OPERATORS, FanOutTask, describe, render

app = FastAPI(title="airflow-fanout", description="Fan-out tasks and their sink tables")


def collect(allowed: set[str], dag_id: str | None, task_id: str | None) -> list[FanOutTask]:
    """The fan-out tasks of the latest serialized version of each DAG in ``allowed``."""
    from airflow.models.dag import DagModel
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    tasks: list[FanOutTask] = []
    with create_session() as session:
        query = select(DagModel.dag_id).where(DagModel.is_stale.is_(False)).order_by(DagModel.dag_id)
        for found in session.scalars(query):
            if found not in allowed or (dag_id is not None and found != dag_id):
                continue
            serialized = SerializedDagModel.get(found, session=session)
            if serialized is None:
                continue
            for task in serialized.dag.tasks:
                if task.task_type not in FANOUT_OPERATORS or (task_id is not None and task.task_id != task_id):
                    continue
                of_task = (XComModel.dag_id == found, XComModel.task_id == task.task_id)
                xcom = session.scalars(
                    select(XComModel)
                    .where(*of_task, XComModel.key == "return_value")
                    .order_by(XComModel.timestamp.desc())
                    .limit(1)
                ).first()
                last_run = XComModel.deserialize_value(xcom) if xcom is not None else None
                spec: Any = getattr(task, "spec", None)
                if not isinstance(spec, dict):  # a file or a template: as the last run rendered it
                    rendered = session.scalars(
                        select(RenderedTaskInstanceFields)
                        .where(
                            RenderedTaskInstanceFields.dag_id == found,
                            RenderedTaskInstanceFields.task_id == task.task_id,
                        )
                        .limit(1)
                    ).first()
                    if rendered is not None:
                        spec = rendered.rendered_fields.get("spec", spec)
                tasks.append(describe(found, task.task_id, task.task_type, spec, last_run))
    return tasks


def _allowed(user: Any) -> set[str]:
    from airflow.api_fastapi.app import get_auth_manager

    return set(get_auth_manager().get_authorized_dag_ids(user=user, method="GET"))


@app.get("/", response_class=HTMLResponse)
async def fanout_page(user: GetUserDep, dag_id: str | None = None, task_id: str | None = None) -> HTMLResponse:
    """Every fan-out task (of ``dag_id``, of ``task_id``) with its graph and sink tables."""
    tasks = await asyncio.to_thread(collect, _allowed(user), dag_id, task_id)
    focus = f"{dag_id}" + (f" / {task_id}" if task_id else "") if dag_id else None
    return HTMLResponse(await asyncio.to_thread(render, tasks, focus))


@app.get("/api/tasks")
async def fanout_tasks(user: GetUserDep, dag_id: str | None = None, task_id: str | None = None) -> JSONResponse:
    """The same as JSON: per task, its sinks with table and txn versions and the last run's rows."""
    tasks = await asyncio.to_thread(collect, _allowed(user), dag_id, task_id)
    return JSONResponse(
        [
            {
                "dag_id": t.dag_id,
                "task_id": t.task_id,
                "operator": t.operator,
                "problem": t.problem,
                "last_run": t.last_run,
                "sinks": [s.__dict__ for s in t.sinks],
            }
            for t in tasks
        ]
    )


class FanOutPlugin(AirflowPlugin):
    """The page at ``/fanout``: in the navigation, and as a "Fan-out" tab of DAGs and tasks."""

    # AirflowPlugin declares these as plain class attributes
    name = "airflow_fanout"
    fastapi_apps = [{"app": app, "url_prefix": "/fanout", "name": "airflow-fanout"}]  # noqa: RUF012
    external_views = [  # noqa: RUF012
        {"name": "Fan-out", "href": "fanout/", "destination": "nav", "category": "browse", "url_route": "fanout"},
        {"name": "Fan-out", "href": "fanout/?dag_id={DAG_ID}", "destination": "dag", "url_route": "fanout-dag"},
        {
            "name": "Fan-out",
            "href": "fanout/?dag_id={DAG_ID}&task_id={TASK_ID}",
            "destination": "task",
            "url_route": "fanout-task",
        },
    ]
