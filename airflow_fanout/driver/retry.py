"""Bounded retries of Delta concurrent-modification conflicts; every other error fails at once.

A conflict means another writer committed to the same table between our read and our commit;
Delta rejects our commit, so retrying the whole write (same txn id) is safe. Pure Python."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from airflow_fanout.exceptions import first_line

T = TypeVar("T")
log = logging.getLogger("airflow_fanout.driver")

#: Delta's conflict exceptions (delta.exceptions / io.delta.exceptions) and their error classes.
CONFLICT_MARKERS = (
    "ConcurrentAppendException",
    "ConcurrentDeleteReadException",
    "ConcurrentDeleteDeleteException",
    "ConcurrentTransactionException",
    "MetadataChangedException",
    "ProtocolChangedException",
    "DELTA_CONCURRENT_",
    "DELTA_METADATA_CHANGED",
    "DELTA_PROTOCOL_CHANGED",
)


def is_conflict(exc: BaseException) -> bool:
    """True for a Delta concurrent-modification conflict (by class name or error class)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    text = f"{' '.join(names)} {exc}"
    return any(marker in text for marker in CONFLICT_MARKERS)


def retry_conflicts(
    write: Callable[[], T],
    *,
    what: str,
    attempts: int = 4,
    first_delay_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``write``; on a conflict wait (1s, 2s, 4s, ...) and try again, ``attempts`` times at most."""
    delay = first_delay_s
    for attempt in range(1, attempts + 1):
        try:
            return write()
        except Exception as exc:
            if attempt == attempts or not is_conflict(exc):
                raise
            log.warning(
                "%s: concurrent commit conflict (attempt %d of %d), retrying in %.1fs: %s",
                what,
                attempt,
                attempts,
                delay,
                first_line(exc),
            )
            sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover
