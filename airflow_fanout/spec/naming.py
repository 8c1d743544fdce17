"""Names of Delta transaction app ids. One place, so the driver and the sensor always agree."""

from __future__ import annotations

from collections.abc import Callable

from airflow_fanout.spec.model import FanOutSpec, SinkSpec

#: ``(sink, app_id, version)`` -> the first commit of the sink's table whose txn version for
#: ``app_id`` is at least ``version`` (None: no such commit, or its log is gone)
CommitFinder = Callable[[SinkSpec, str, int], int | None]


def txn_app_id(app_id: str, sink: str, slice_key: str | None = None) -> str:
    """``<app_id>.<sink>`` for streams; ``<app_id>.<sink>.<slice>`` for a backfill slice, so slices
    keep separate versions and can run out of order or in parallel."""
    base = f"{app_id}.{sink}"
    return f"{base}.{slice_key}" if slice_key is not None else base


def sink_app_id(spec: FanOutSpec, sink: SinkSpec) -> str:
    """A sink's txn app id. A view (``spec.view_kind``) is a view of its upstream *table*, not
    of a slice: ``<app_id>.<sink>`` in every run mode, its txn version being the upstream table
    version it is brought up to."""
    if spec.view_kind(sink) is not None:
        return txn_app_id(spec.app_id, sink.name)
    return txn_app_id(spec.app_id, sink.name, spec.slice_key)


#: The dead-letter "sink" name of source records that could not be parsed.
SOURCE_DEAD_LETTERS = "_source"


def dead_letter_app_id(spec: FanOutSpec, sink_name: str) -> str:
    """The txn app id of one sink's writes to the dead-letter table: ``<app_id>._dead_letter.<sink>``
    (sink names start with a letter, so this never collides with a sink's own app id); unparseable
    source records use ``<app_id>._dead_letter._source``."""
    slice_key = spec.slice_key
    if sink_name != SOURCE_DEAD_LETTERS and spec.view_kind(spec.sink(sink_name)) is not None:
        slice_key = None  # a view's dead letters follow its versions, not a slice's
    return txn_app_id(spec.app_id, f"_dead_letter.{sink_name}", slice_key)


def view_target(spec: FanOutSpec, view: SinkSpec, version: int, first_commit: CommitFinder) -> int | None:
    """The txn version ``view`` must record to hold batch (or slice run) ``version``: the version
    of its upstream's commit that wrote it, or, for a view of a view, the upstream view's commit
    that caught up with its own target. None while the upstream has not written it."""
    assert view.upstream is not None
    upstream = spec.sink(view.upstream)
    needed = version
    if spec.view_kind(upstream) is not None:
        inner = view_target(spec, upstream, version, first_commit)
        if inner is None:
            return None
        needed = inner
    return first_commit(upstream, sink_app_id(spec, upstream), needed)


def tombstone_app_id(spec: FanOutSpec, sink: SinkSpec) -> str:
    """The txn app id of a CDC sink's writes to its tombstone table: ``<app_id>._tombstones.<sink>``
    (plus ``.<slice>``), written with the batch's txn version just before the sink itself."""
    return txn_app_id(spec.app_id, f"_tombstones.{sink.name}", spec.slice_key)
