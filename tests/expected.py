"""Expected table contents computed independently of Spark, in plain Python over the generated
events. Tests compare what the driver wrote with these."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from airflow_fanout.sample_data import Event


def valid(events: Iterable[Event]) -> list[Event]:
    return [e for e in events if e.event_id is not None and e.amount >= 0]


def silver_rows(events: Iterable[Event]) -> dict[str, Event]:
    """One row per valid event id (the latest by event_time; re-sent duplicates are identical)."""
    out: dict[str, Event] = {}
    for e in valid(events):
        assert e.event_id is not None
        if e.event_id not in out or e.event_time > out[e.event_id].event_time:
            out[e.event_id] = e
    return out


def gold_rows(events: Iterable[Event], minutes: int = 5) -> dict[tuple[int, str], tuple[int, float]]:
    """(window start epoch seconds, event_type) -> (events, revenue) over the silver rows."""
    groups: dict[tuple[int, str], list[float]] = defaultdict(list)
    width = minutes * 60
    for e in silver_rows(events).values():
        start = int(e.event_time.timestamp()) // width * width
        groups[(start, e.event_type)].append(e.amount)
    return {k: (len(v), round(sum(v), 6)) for k, v in groups.items()}
