"""The sample data is deterministic and has what the patterns need (duplicates, late, invalid
events; CDC changes with several per key, deletes and stale re-sends)."""

from __future__ import annotations

from airflow_fanout.sample_data import Change, current_state, generate_changes, generate_events


def test_events_are_deterministic_and_messy() -> None:
    first = generate_events(1, 400)
    assert first == generate_events(1, 400)
    assert first != generate_events(1, 400, seed=8)
    ids = [e.event_id for e in first if e.event_id]
    assert len(ids) > len(set(ids))  # re-sent duplicates
    assert any(e.event_id is None for e in first) and any(e.amount < 0 for e in first)


def test_changes_have_deletes_repeats_and_stale_resends() -> None:
    changes = generate_changes(1, 300)
    assert changes == generate_changes(1, 300)
    keys = [c.customer_id for c in changes]
    assert len(keys) > len(set(keys))
    assert any(c.op == "DELETE" for c in changes)
    assert any(c.seq < 1_000_000 for c in changes)  # older than every change of batch 0's range end


def test_current_state_is_latest_change_per_key_without_deletes() -> None:
    changes = [
        Change("a", "x", 1, "INSERT"),
        Change("a", "y", 3, "UPDATE"),
        Change("a", "old", 2, "UPDATE"),
        Change("b", "z", 1, "INSERT"),
        Change("b", None, 2, "DELETE"),
        Change("c", "w", 5, "INSERT"),
    ]
    assert current_state(changes) == {"a": Change("a", "y", 3, "UPDATE"), "c": Change("c", "w", 5, "INSERT")}
