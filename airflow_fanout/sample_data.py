"""Deterministic sample events for the demo, the tests and the benchmarks.

Each landing batch is one JSON-lines file. The data has what real event streams have:
duplicate event ids (re-sent events), late events (an old ``event_time`` in a later batch),
invalid rows (null ``event_id`` or a negative ``amount``). Pure Python, seeded."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

EVENT_SCHEMA = (
    "event_id STRING, user_id STRING, event_type STRING, amount DOUBLE, event_time TIMESTAMP, event_date DATE"
)
EVENT_TYPES = ("order", "refund", "review", "click")
START = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Event:
    event_id: str | None
    user_id: str
    event_type: str
    amount: float
    event_time: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "user_id": self.user_id,
            "event_type": self.event_type,
            "amount": self.amount,
            "event_time": self.event_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "event_date": self.event_time.strftime("%Y-%m-%d"),
        }


def generate_events(batch: int, rows: int, *, seed: int = 7, days: int = 1, start: datetime = START) -> list[Event]:
    """The events of landing batch ``batch``: ~5% re-sent duplicates, ~5% late, ~3% invalid."""
    rng = random.Random(seed * 1_000_003 + batch)
    events: list[Event] = []
    span = days * 24 * 3600
    for i in range(rows):
        offset = rng.randrange(span)
        kind = rng.random()
        if kind < 0.05 and events:
            events.append(rng.choice(events))  # re-sent duplicate, same id and content
            continue
        when = start + timedelta(seconds=offset)
        if kind < 0.10 and batch > 0:
            when -= timedelta(minutes=rng.randrange(5, 60))  # late: lands in an older window
        event_id: str | None = f"e{batch:04d}-{i:07d}"
        amount = round(rng.uniform(1, 500), 2)
        if kind > 0.97:
            event_id = None  # invalid: no id
        elif kind > 0.94:
            amount = -amount  # invalid: negative amount
        events.append(Event(event_id, f"u{rng.randrange(100):03d}", rng.choice(EVENT_TYPES), amount, when))
    return events


def write_landing_batch(folder: str | Path, batch: int, events: list[Event]) -> Path:
    """Write one landing file ``batch-<n>.json`` (JSON lines); returns its path."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    target = path / f"batch-{batch:04d}.json"
    tmp = path / f".batch-{batch:04d}.json.tmp"
    tmp.write_text("".join(json.dumps(e.to_json()) + "\n" for e in events), encoding="utf-8")
    tmp.rename(target)  # a stream never sees a half-written file
    return target
