"""Names of Delta transaction app ids. One place, so the driver and the sensor always agree."""

from __future__ import annotations

from airflow_fanout.spec.model import FanOutSpec, SinkSpec


def txn_app_id(app_id: str, sink: str, slice_key: str | None = None) -> str:
    """``<app_id>.<sink>`` for streams; ``<app_id>.<sink>.<slice>`` for a backfill slice, so slices
    keep separate versions and can run out of order or in parallel."""
    base = f"{app_id}.{sink}"
    return f"{base}.{slice_key}" if slice_key is not None else base


def sink_app_id(spec: FanOutSpec, sink: SinkSpec) -> str:
    return txn_app_id(spec.app_id, sink.name, spec.slice_key)


#: The dead-letter "sink" name of source records that could not be parsed.
SOURCE_DEAD_LETTERS = "_source"


def dead_letter_app_id(spec: FanOutSpec, sink_name: str) -> str:
    """The txn app id of one sink's writes to the dead-letter table: ``<app_id>._dead_letter.<sink>``
    (sink names start with a letter, so this never collides with a sink's own app id); unparseable
    source records use ``<app_id>._dead_letter._source``."""
    return txn_app_id(spec.app_id, f"_dead_letter.{sink_name}", spec.slice_key)
