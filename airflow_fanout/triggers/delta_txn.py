"""``DeltaTxnTrigger``: waits in the triggerer until every watched sink's txn version is reached."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_fanout.hooks.storage import astorage_options
from airflow_fanout.status import WatchedSink, confirmed, lagging
from airflow_fanout.txnlog import NotADeltaTableError

#: errors that end the wait at once: a path that is not a Delta table, a bad watch list
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (NotADeltaTableError, ValueError, KeyError, TypeError)
#: consecutive failed reads (e.g. a storage or network hiccup) tolerated before giving up
MAX_TRANSIENT_ERRORS = 5


class DeltaTxnTrigger(BaseTrigger):
    """Poll the Delta logs of the watched sinks (in a thread: the read is blocking file I/O).

    :param watched: the sinks as ``WatchedSink.to_dict()`` (path, txn app id, expected version).
    :param poll_interval: seconds between two reads of the logs.
    :param end_time: when to give up (seconds since the epoch, UTC) with a ``timeout`` event
        naming the lagging sinks; absolute, so a restarted triggerer keeps the same deadline.
    :param timeout: seconds from now instead of ``end_time`` (turned into ``end_time`` here).
    :param storage_conn_id: an Airflow connection with the object store's credentials (looked
        up in the triggerer: no secret is stored with the trigger).

    A failed read (an ``OSError``: storage or network) is retried at the next poll, up to
    ``MAX_TRANSIENT_ERRORS`` in a row; a path that is not a Delta table ends the wait at once
    with an ``error`` event.
    """

    def __init__(
        self,
        watched: list[dict[str, Any]],
        poll_interval: float = 30.0,
        end_time: float | None = None,
        timeout: float | None = None,
        storage_conn_id: str | None = None,
    ) -> None:
        super().__init__()
        self.watched = watched
        self.storage_conn_id = storage_conn_id
        self.poll_interval = poll_interval
        if end_time is None and timeout is not None:
            end_time = time.time() + timeout
        self.end_time = end_time

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "airflow_fanout.triggers.delta_txn.DeltaTxnTrigger",
            {
                "watched": self.watched,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "storage_conn_id": self.storage_conn_id,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        sinks = [WatchedSink.from_dict(d) for d in self.watched]
        options = await astorage_options(self.storage_conn_id) if self.storage_conn_id else None
        failures = 0
        while True:
            try:
                behind = await asyncio.to_thread(lagging, sinks, options)
                lines = await asyncio.to_thread(confirmed, sinks, options) if not behind else []
                failures = 0
            except PERMANENT_ERRORS as exc:
                yield TriggerEvent({"status": "error", "message": str(exc)})
                return
            except Exception as exc:  # storage, network: try again at the next poll
                failures += 1
                if failures >= MAX_TRANSIENT_ERRORS:
                    yield TriggerEvent(
                        {"status": "error", "message": f"{failures} reads of the Delta logs failed in a row: {exc}"}
                    )
                    return
                self.log.warning("reading the Delta logs failed (%d of %d): %s", failures, MAX_TRANSIENT_ERRORS, exc)
                behind = None
            if behind is not None and not behind:
                yield TriggerEvent({"status": "success", "confirmed": lines})
                return
            if self.end_time is not None and time.time() >= self.end_time:
                yield TriggerEvent({"status": "timeout", "lagging": behind or ["(the last read failed)"]})
                return
            if behind:
                self.log.info("waiting for %d sink(s): %s", len(behind), "; ".join(behind))
            await asyncio.sleep(self.poll_interval)
