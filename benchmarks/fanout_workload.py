"""Workload A (fan-out): the source data, the eight sinks, and what their tables must hold.

Shared by every contender (the airflow-fanout driver, separate streams, a tutorial-style
``foreachBatch``, hand-written PySpark, Spark Declarative Pipelines), so they all read the same
files and are checked against the same expected tables.

**Data.** JSON-lines events. Every row is a pure function of ``(seed, global row index)``
(counter-based hashing, no sequential RNG), so:

- the same arguments give byte-identical files, whatever the file split;
- an incremental set is just another index range (``start_index``) in the same landing folder,
  and its ~2% re-sent duplicates may repeat ids of *earlier* sets, which exercises the MERGE's
  matched path across batches;
- the expected content of every table is computed from the index range alone
  (:func:`expected_stats`), with no Spark and no file read, so every contender (the driver too)
  is checked against ground truth.

A duplicate row is an exact copy (same id, same values) of an earlier row, like a re-sent
event, so "insert when not matched" and "update when matched" leave the same table.

**Sinks.** ``SINKS[:k]`` is the workload with ``k`` sinks: 1 ``bronze`` (append all), 2
``events_dedup`` (dedupe on ``event_id`` in the batch, MERGE keyed by ``event_id``), 3
``hourly_by_country`` (1-hour tumbling window count/sum from ``bronze``, correct across batches),
4-7 one route per event type, 8 ``other`` (the rest).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SCHEMA_DDL = (
    "event_id STRING, user_id STRING, event_type STRING, country STRING, device STRING, "
    "amount DOUBLE, quantity INT, ts TIMESTAMP, session_id STRING, referrer STRING"
)
APP_ID = "fanout_bench"
DEFAULT_SEED = 42

EVENT_TYPES = ("view", "click", "cart", "purchase", "refund", "signup", "login", "logout")
EVENT_WEIGHTS = (0.55, 0.20, 0.10, 0.05, 0.01, 0.02, 0.04, 0.03)
COUNTRIES = ("US", "DE", "FR", "GB", "BR", "IN", "JP", "CA")
COUNTRY_WEIGHTS = (0.30, 0.15, 0.12, 0.12, 0.10, 0.10, 0.06, 0.05)
DEVICES = ("mobile", "desktop", "tablet")
DEVICE_WEIGHTS = (0.60, 0.32, 0.08)
REFERRERS = ("google", "direct", "newsletter", "facebook", "partner", "bing")
USERS = 10_000
DUPLICATE_SHARE = 0.02
#: Event times are spread uniformly over 3 days from here (UTC), in every set: an incremental
#: set touches the same hourly windows again, so the aggregate must stay right across batches.
START_EPOCH_S = 1_767_225_600  # 2026-01-01T00:00:00Z
SPAN_S = 3 * 24 * 3600
_PRICED = ("cart", "purchase", "refund")

SinkKind = Literal["append", "merge", "aggregate"]


@dataclass(frozen=True)
class AggregateDef:
    """A tumbling-window aggregate over the ``upstream`` sink's table, one row per window and group."""

    upstream: str
    window_column: str
    duration: str
    group_by: tuple[str, ...]
    measures: Mapping[str, str]  # output column -> aggregate SQL


@dataclass(frozen=True)
class SinkDef:
    """One sink of the workload, with what any contender needs to write it.

    ``where`` is the filter on source rows (for ``other`` it selects the rows no other route
    selects; the driver spec expresses the same with ``catch_all``). ``keys``: the MERGE keys of a
    ``merge`` sink, deduplicated within each batch first, inserted when not matched."""

    name: str
    kind: SinkKind
    where: str | None = None
    keys: tuple[str, ...] = ()
    aggregate: AggregateDef | None = None
    catch_all: bool = False
    description: str = ""


ROUTES = ("purchase", "view", "click", "cart")
OTHER_WHERE = "event_type IS NULL OR event_type NOT IN (" + ", ".join(f"'{t}'" for t in ROUTES) + ")"
HOURLY = AggregateDef(
    upstream="bronze",
    window_column="ts",
    duration="1 hour",
    group_by=("country",),
    measures={"events": "count(*)", "revenue": "sum(amount)"},
)
#: Output columns of the aggregate table (the driver's names: window bounds, group_by, measures).
AGGREGATE_COLUMNS = ("window_start", "window_end", "country", "events", "revenue")

SINKS: list[SinkDef] = [
    SinkDef("bronze", "append", description="every source row"),
    SinkDef("events_dedup", "merge", keys=("event_id",), description="one row per event_id"),
    SinkDef("hourly_by_country", "aggregate", aggregate=HOURLY, description="events and revenue per hour, country"),
    SinkDef("purchases", "append", where="event_type = 'purchase'"),
    SinkDef("views", "append", where="event_type = 'view'"),
    SinkDef("clicks", "append", where="event_type = 'click'"),
    SinkDef("carts", "append", where="event_type = 'cart'"),
    SinkDef("other", "append", where=OTHER_WHERE, catch_all=True, description="event types no route takes"),
]
MAX_K = len(SINKS)


def sinks(k: int) -> list[SinkDef]:
    """The workload with ``k`` sinks: the first ``k`` of :data:`SINKS`."""
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be in 1..{MAX_K}, got {k}")
    return SINKS[:k]


def table_path(lake: str | Path, name: str) -> str:
    """Where every contender writes sink ``name`` under its ``lake`` folder."""
    return f"{str(lake).rstrip('/')}/{name}"


# -- the airflow-fanout spec -------------------------------------------------------------------
def _spec_sink(sink: SinkDef, lake: str | Path) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": sink.name, "path": table_path(lake, sink.name)}
    if sink.kind == "append":
        doc["mode"] = "append"
        if sink.catch_all:
            doc["catch_all"] = True
        elif sink.where:
            doc["where"] = sink.where
    elif sink.kind == "merge":
        # Insert new keys only, as every other contender does (duplicates are exact copies).
        merge = {"keys": list(sink.keys), "when_matched": "ignore"}
        doc.update(mode="merge", dedupe={"keys": list(sink.keys)}, merge=merge)
    else:
        agg = sink.aggregate
        assert agg is not None
        doc.update(
            mode="merge",
            **{"from": agg.upstream},
            aggregate={
                "window": {"column": agg.window_column, "duration": agg.duration},
                "group_by": list(agg.group_by),
                "measures": dict(agg.measures),
            },
        )
    return doc


def fanout_spec(k: int, landing: str | Path, lake: str | Path, checkpoint: str | Path) -> dict[str, Any]:
    """The airflow-fanout spec for the first ``k`` sinks: a JSON stream with its schema,
    ``available_now``, the default sink parallelism (what a user would write)."""
    chosen = sinks(k)
    docs = [_spec_sink(s, lake) for s in chosen]
    if not any(s.where and not s.catch_all for s in chosen):
        # catch_all needs a sibling route with a where; without one, "other" is a plain filter.
        for doc, sink in zip(docs, chosen, strict=True):
            if sink.catch_all:
                doc.pop("catch_all")
                doc["where"] = sink.where
    return {
        "version": 1,
        "app_id": APP_ID,
        "description": f"benchmark workload A with {k} sink(s)",
        "source": {"format": "json", "path": str(landing), "schema": SCHEMA_DDL},
        "run": {"mode": "stream", "trigger": {"available_now": True}, "checkpoint": str(checkpoint)},
        "sinks": docs,
    }


# -- the data ----------------------------------------------------------------------------------
_M1, _M2, _GOLDEN = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB), np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a bijective, well-mixed hash of uint64 values (wrapping arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    mixed: np.ndarray = x ^ (x >> np.uint64(31))
    return mixed


def _uniform(seed: int, salt: int, index: np.ndarray) -> np.ndarray:
    """A uniform draw in [0, 1) per row index, independent per (seed, salt)."""
    key = _mix(np.array([seed * 1_000_003 + salt], dtype=np.uint64))
    bits = _mix(index.astype(np.uint64) * _GOLDEN ^ key)
    uniform: np.ndarray = (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
    return uniform


def _pick(u: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """Category index per row for uniform draws ``u`` and category weights."""
    edges = np.cumsum(np.asarray(weights, dtype=np.float64))
    edges /= edges[-1]
    return np.minimum(np.searchsorted(edges, u, side="right"), len(weights) - 1)


def content_index(seed: int, index: np.ndarray) -> np.ndarray:
    """The row whose content row ``index`` carries: itself, or for a re-sent duplicate (~2%) an
    uniformly chosen earlier row (possibly from an earlier set)."""
    index = index.astype(np.int64)
    duplicate = (_uniform(seed, 1, index) < DUPLICATE_SHARE) & (index > 0)
    source = np.floor(_uniform(seed, 2, index) * index).astype(np.int64)
    return np.where(duplicate, source, index)


@dataclass(frozen=True)
class Rows:
    """Column arrays of a range of rows (numeric codes; formatted to JSON by :func:`_json_lines`)."""

    content: np.ndarray  # event_id = "e<content>"
    user: np.ndarray
    event_type: np.ndarray  # index into EVENT_TYPES
    country: np.ndarray
    device: np.ndarray
    amount_cents: np.ndarray
    quantity: np.ndarray
    ts: np.ndarray  # epoch seconds
    referrer: np.ndarray  # index into REFERRERS, -1 = null


def rows(seed: int, start_index: int, n_rows: int) -> Rows:
    """The rows with global indices ``start_index .. start_index + n_rows - 1``."""
    c = content_index(seed, np.arange(start_index, start_index + n_rows, dtype=np.int64))
    event_type = _pick(_uniform(seed, 11, c), EVENT_WEIGHTS)
    priced = np.isin(event_type, [EVENT_TYPES.index(t) for t in _PRICED])
    # Skewed basket values: many small, a few large (0.99 .. ~500.00).
    cents = 99 + np.floor(_uniform(seed, 15, c) ** 3 * 50_000).astype(np.int64)
    user = np.floor(_uniform(seed, 10, c) ** 1.5 * USERS).astype(np.int64)  # some users are busier
    referrer = np.where(_uniform(seed, 18, c) < 0.4, -1, _pick(_uniform(seed, 19, c), [1.0] * len(REFERRERS))).astype(
        np.int64
    )
    return Rows(
        content=c,
        user=user,
        event_type=event_type,
        country=_pick(_uniform(seed, 12, c), COUNTRY_WEIGHTS),
        device=_pick(_uniform(seed, 13, c), DEVICE_WEIGHTS),
        amount_cents=np.where(priced, cents, 0),
        quantity=np.where(priced, 1 + np.floor(_uniform(seed, 16, c) * 5).astype(np.int64), 0),
        ts=START_EPOCH_S + np.floor(_uniform(seed, 17, c) * SPAN_S).astype(np.int64),
        referrer=referrer,
    )


def _text(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _categories(codes: np.ndarray, names: Sequence[str]) -> pa.Array:
    return pc.take(pa.array(names, type=pa.string()), pa.array(codes))


def _json_lines(r: Rows) -> pa.Array:
    """One JSON object + newline per row, built column-wise with Arrow (no per-row Python)."""
    amount = pc.binary_join_element_wise(
        _text(r.amount_cents // 100), pc.utf8_lpad(_text(r.amount_cents % 100), width=2, padding="0"), "."
    )
    ts = pc.strftime(pa.array(r.ts.astype("datetime64[s]")), format="%Y-%m-%dT%H:%M:%SZ")
    session = pc.binary_join_element_wise(_text(r.user), _text((r.ts - START_EPOCH_S) // 1800), "-")
    named = _categories(np.maximum(r.referrer, 0), REFERRERS)
    referrer = pc.if_else(pa.array(r.referrer < 0), pa.scalar("null"), pc.binary_join_element_wise('"', named, '"', ""))
    parts: list[Any] = [
        '{"event_id":"e',
        _text(r.content),
        '","user_id":"u',
        pc.utf8_lpad(_text(r.user), width=5, padding="0"),
        '","event_type":"',
        _categories(r.event_type, EVENT_TYPES),
        '","country":"',
        _categories(r.country, COUNTRIES),
        '","device":"',
        _categories(r.device, DEVICES),
        '","amount":',
        amount,
        ',"quantity":',
        _text(r.quantity),
        ',"ts":"',
        ts,
        '","session_id":"s',
        session,
        '","referrer":',
        referrer,
        "}\n",
    ]
    return pc.binary_join_element_wise(*parts, "")


def _write_lines(path: Path, lines: pa.Array) -> None:
    """Write the concatenated values of a string array (each already ends with a newline)."""
    lines = pa.concat_arrays([lines]) if isinstance(lines, pa.ChunkedArray) else lines
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
    data = lines.buffers()[2]
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as out:
        out.write(memoryview(data)[int(offsets[0]) : int(offsets[-1])])
    tmp.replace(path)  # a reader never sees half a file


def file_name(first_index: int) -> str:
    """Files sort by name in arrival order: named by the global index of their first row."""
    return f"events-{first_index:012d}.json"


def generate(data_dir: Path, n_rows: int, *, files: int, seed: int, start_index: int = 0) -> list[Path]:
    """Write rows ``start_index .. start_index + n_rows - 1`` as ``files`` JSON-lines files
    into ``data_dir``; returns their paths in arrival order. Same arguments, same bytes."""
    if n_rows < 1 or files < 1:
        raise ValueError("n_rows and files must be >= 1")
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(start_index, start_index + n_rows, min(files, n_rows) + 1).astype(np.int64)
    paths = []
    for first, end in itertools.pairwise(bounds):
        path = data_dir / file_name(int(first))
        _write_lines(path, _json_lines(rows(seed, int(first), int(end - first))))
        paths.append(path)
    return paths


# -- what the tables must hold -------------------------------------------------------------------
@dataclass(frozen=True)
class TableStats:
    """A table summed up: its rows and the sum of its money column (``amount``, or ``revenue``
    for the aggregate); the aggregate also carries the sum of its ``events`` column."""

    rows: int
    amount: float
    events: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def matches(self, other: TableStats, rel_tol: float = 1e-7) -> bool:
        """Equal rows (and events); money equal up to float summation order."""
        scale = max(abs(self.amount), abs(other.amount), 1.0)
        return (
            self.rows == other.rows
            and self.events == other.events
            and abs(self.amount - other.amount) <= rel_tol * scale
        )

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"rows": self.rows, "amount": round(self.amount, 2)}
        if self.events is not None:
            doc["events"] = self.events
        return doc


def expected_stats(n_rows: int, seed: int) -> dict[str, TableStats]:
    """What each of the eight tables holds once rows ``0 .. n_rows - 1`` are written (any batch
    split), computed from the generator alone."""
    r = rows(seed, 0, n_rows)
    cents = r.amount_cents
    out: dict[str, TableStats] = {"bronze": TableStats(n_rows, int(cents.sum()) / 100)}
    unique, first = np.unique(r.content, return_index=True)
    out["events_dedup"] = TableStats(len(unique), int(cents[first].sum()) / 100)
    groups = np.unique((r.ts // 3600) * len(COUNTRIES) + r.country)
    out["hourly_by_country"] = TableStats(len(groups), int(cents.sum()) / 100, events=n_rows)
    for route in ROUTES:
        mask = r.event_type == EVENT_TYPES.index(route)
        out[f"{route}s"] = TableStats(int(mask.sum()), int(cents[mask].sum()) / 100)
    other = ~np.isin(r.event_type, [EVENT_TYPES.index(t) for t in ROUTES])
    out["other"] = TableStats(int(other.sum()), int(cents[other].sum()) / 100)
    assert set(out) == {s.name for s in SINKS}
    return out


def table_stats(path: str | Path, sink: SinkDef) -> TableStats:
    """The same summary read from a Delta table with delta-rs (no JVM)."""
    from deltalake import DeltaTable

    if sink.kind == "aggregate":
        table = DeltaTable(str(path)).to_pyarrow_table(columns=["events", "revenue"])
        events = pc.sum(table["events"]).as_py() or 0
        return TableStats(table.num_rows, float(pc.sum(table["revenue"]).as_py() or 0.0), events=int(events))
    table = DeltaTable(str(path)).to_pyarrow_table(columns=["amount"])
    return TableStats(table.num_rows, float(pc.sum(table["amount"]).as_py() or 0.0))


def check_tables(lake: str | Path, k: int, expected: Mapping[str, TableStats]) -> list[str]:
    """Every difference between the first ``k`` tables under ``lake`` and ``expected``; [] if none."""
    problems = []
    for sink in sinks(k):
        try:
            actual = table_stats(table_path(lake, sink.name), sink)
        except Exception as exc:  # a missing or unreadable table is a difference too
            problems.append(f"{sink.name}: cannot read table: {exc}")
            continue
        if not actual.matches(expected[sink.name]):
            problems.append(f"{sink.name}: table has {actual.to_json()}, expected {expected[sink.name].to_json()}")
    return problems


def main() -> None:
    """``python -m benchmarks.fanout_workload DIR N [FILES]``: write a data set and print its
    expected tables (handy for trying a contender by hand)."""
    import sys

    target, n = Path(sys.argv[1]), int(sys.argv[2])
    files = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    generate(target, n, files=files, seed=DEFAULT_SEED)
    print(json.dumps({k: v.to_json() for k, v in expected_stats(n, DEFAULT_SEED).items()}, indent=2))


if __name__ == "__main__":
    main()
