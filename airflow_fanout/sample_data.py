"""Deterministic sample events for the demo, the tests and the benchmarks.

Each landing batch is one JSON-lines file. The data has what real event streams have:
duplicate event ids (re-sent events), late events (an old ``event_time`` in a later batch),
invalid rows (null ``event_id`` or a negative ``amount``). Pure Python, seeded."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

EVENT_SCHEMA = (
    "event_id STRING, user_id STRING, event_type STRING, amount DOUBLE, event_time TIMESTAMP, event_date DATE"
)
EVENT_TYPES = ("order", "refund", "review", "click")
START = datetime(2026, 11, 1, tzinfo=timezone.utc)


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


def _write_json_lines(folder: str | Path, name: str, records: list[dict[str, Any]]) -> Path:
    """Write ``records`` as one JSON-lines file ``folder/name``; returns its path."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    target = path / name
    tmp = path / f".{name}.tmp"
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    tmp.rename(target)  # a stream never sees a half-written file
    return target


def write_landing_batch(folder: str | Path, batch: int, events: list[Event]) -> Path:
    """Write one landing file ``batch-<n>.json`` (JSON lines); returns its path."""
    return _write_json_lines(folder, f"batch-{batch:04d}.json", [e.to_json() for e in events])


@dataclass(frozen=True)
class Change:
    """One CDC change of a customer: an INSERT, UPDATE or DELETE with its sequence number."""

    customer_id: str
    name: str | None
    seq: int
    op: str

    def to_json(self) -> dict[str, Any]:
        return {"customer_id": self.customer_id, "name": self.name, "_seq": self.seq, "_op": self.op}


CHANGE_SCHEMA = "customer_id STRING, name STRING, _seq LONG, _op STRING"


def generate_changes(batch: int, rows: int, *, seed: int = 7, customers: int = 40) -> list[Change]:
    """CDC changes for landing batch ``batch``. Sequence numbers grow with the batch, so later
    batches carry newer changes; ~10% of a batch re-sends an older change of the same key (out of
    order), ~15% are deletes, and a key often changes several times within one batch."""
    rng = random.Random(seed * 7_000_003 + batch)
    out: list[Change] = []
    for i in range(rows):
        key = f"c{rng.randrange(customers):03d}"
        seq = batch * 1_000_000 + i + 1
        if rng.random() < 0.10 and batch > 0:
            seq -= 1_000_000 + rng.randrange(1, 1000)  # a stale change arriving late
        roll = rng.random()
        if roll < 0.15:
            out.append(Change(key, None, seq, "DELETE"))
        else:
            out.append(Change(key, f"name-{batch}-{i}", seq, "INSERT" if roll < 0.4 else "UPDATE"))
    return out


def current_state(changes: list[Change]) -> dict[str, Change]:
    """The latest change per key, minus deleted keys: what a CDC target table must hold after
    applying every change with 'latest sequence wins' (a key never re-inserted by an older change)."""
    latest: dict[str, Change] = {}
    for change in changes:
        if change.customer_id not in latest or change.seq > latest[change.customer_id].seq:
            latest[change.customer_id] = change
    return {k: c for k, c in latest.items() if c.op != "DELETE"}


def write_change_batch(folder: str | Path, batch: int, changes: list[Change]) -> Path:
    """Write one landing file of changes ``changes-<n>.json`` (JSON lines); returns its path."""
    return _write_json_lines(folder, f"changes-{batch:04d}.json", [c.to_json() for c in changes])


def generate_versions(ids: int, *, seed: int = 11, start: datetime = START) -> list[Event]:
    """Events re-sent as new *versions* (same ``event_id``, a later ``event_time``, often another
    type, amount and 5-minute window), shuffled so that older versions often arrive after newer
    ones; ~10% of the versions are invalid (negative amount). No two versions of one id share
    (``event_time``, ``amount``), so the latest by those two columns is always one version."""
    rng = random.Random(seed)
    versions: list[Event] = []
    for n in range(ids):
        when = start + timedelta(seconds=rng.randrange(6 * 3600))
        for _ in range(rng.choice((1, 1, 2, 3, 4))):
            amount = round(rng.uniform(1, 300), 2)
            if rng.random() < 0.10:
                amount = -amount
            versions.append(Event(f"e{n:04d}", f"u{rng.randrange(20):02d}", rng.choice(EVENT_TYPES), amount, when))
            when += timedelta(seconds=rng.randrange(1, 1800))
    rng.shuffle(versions)
    return versions


def latest_valid(events: list[Event]) -> dict[str, Event]:
    """Per event id, the version with the latest (``event_time``, ``amount``) among the valid ones
    (an id and a non-negative amount): what a silver table with expectations and ``sequence_by``
    must hold, whatever the order the versions arrived in."""
    latest: dict[str, Event] = {}
    for event in events:
        if event.event_id is None or event.amount < 0:
            continue
        kept = latest.get(event.event_id)
        if kept is None or (event.event_time, event.amount) > (kept.event_time, kept.amount):
            latest[event.event_id] = event
    return latest
