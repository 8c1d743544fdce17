"""When an aggregate's MERGE must look for stale groups (no Spark session: the rule is pure)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_fanout.driver.sinks import may_leave_stale_groups
from airflow_fanout.spec import parse_spec


def upstream_and_aggregate(upstream: dict[str, Any], window: dict[str, str] | None) -> tuple[Any, Any]:
    aggregate: dict[str, Any] = {"group_by": ["user_id"], "measures": {"n": "count(*)"}}
    if window is not None:
        aggregate["window"] = window
    spec = parse_spec(
        {
            "version": 1,
            "app_id": "stale_test",
            "source": {"format": "delta", "path": "/lake/in"},
            "run": {"mode": "stream", "checkpoint": "/chk"},
            "sinks": [
                {"name": "up", "path": "/lake/up", **upstream},
                {"name": "agg", "path": "/lake/agg", "mode": "merge", "from": "up", "aggregate": aggregate},
            ],
        }
    )
    agg = spec.sink("agg")
    assert agg.aggregate is not None
    return agg.aggregate, spec.sink("up")


TUMBLING = {"column": "ts", "duration": "1 hour"}
SESSION = {"column": "ts", "gap": "30 minutes"}
APPEND = {"mode": "append"}
OVERWRITE = {"mode": "overwrite", "replace_where": "true"}
UPSERT = {"mode": "merge", "merge": {"keys": ["id"]}}
INSERT_ONLY = {"mode": "merge", "merge": {"keys": ["id"], "when_matched": "ignore"}}


@pytest.mark.parametrize(
    ("upstream", "window", "expected"),
    [
        # the batch's rows are in the upstream as they are: every touched group is found again
        (APPEND, TUMBLING, False),
        (APPEND, None, False),
        (OVERWRITE, TUMBLING, False),
        # a session's bounds move: an old session of a touched key may be gone
        (APPEND, SESSION, True),
        # an upstream MERGE may update, delete or (insert-only) skip the batch's rows
        (UPSERT, TUMBLING, True),
        (INSERT_ONLY, TUMBLING, True),
        (INSERT_ONLY, None, True),
    ],
)
def test_stale_group_scan_only_where_a_group_can_vanish(
    upstream: dict[str, Any], window: dict[str, str] | None, expected: bool
) -> None:
    aggregate, up = upstream_and_aggregate(upstream, window)
    assert may_leave_stale_groups(aggregate, up) is expected
