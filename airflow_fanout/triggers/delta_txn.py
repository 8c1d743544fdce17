"""``DeltaTxnTrigger``: waits in the triggerer until every watched sink's txn version is reached."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_fanout.status import WatchedSink, lagging


class DeltaTxnTrigger(BaseTrigger):
    """Poll the Delta logs of the watched sinks (in a thread: the read is blocking file I/O).

    :param watched: the sinks as ``WatchedSink.to_dict()`` (path, txn app id, expected version).
    :param poll_interval: seconds between two reads of the logs.
    :param timeout: seconds before giving up with a ``timeout`` event naming the lagging sinks.
    """

    def __init__(
        self, watched: list[dict[str, Any]], poll_interval: float = 30.0, timeout: float | None = None
    ) -> None:
        super().__init__()
        self.watched = watched
        self.poll_interval = poll_interval
        self.timeout = timeout

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "airflow_fanout.triggers.delta_txn.DeltaTxnTrigger",
            {"watched": self.watched, "poll_interval": self.poll_interval, "timeout": self.timeout},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        sinks = [WatchedSink.from_dict(d) for d in self.watched]
        deadline = time.monotonic() + self.timeout if self.timeout else None
        while True:
            try:
                behind = await asyncio.to_thread(lagging, sinks)
            except Exception as exc:  # e.g. a path that is not a Delta table
                yield TriggerEvent({"status": "error", "message": str(exc)})
                return
            if not behind:
                yield TriggerEvent({"status": "success"})
                return
            if deadline is not None and time.monotonic() >= deadline:
                yield TriggerEvent({"status": "timeout", "lagging": behind})
                return
            self.log.info("waiting for %d sink(s): %s", len(behind), "; ".join(behind))
            await asyncio.sleep(self.poll_interval)
