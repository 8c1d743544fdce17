"""Workload B on S3: what the sensor's per-table status check costs when the sink's Delta log is
in an object store, on a real S3 server on loopback (SeaweedFS, ``tests/s3/server.py``), against
``deltalake``'s table load of the same log from the same server.

Contenders, all asked for the txn version of the same app id on the same table:

* ``sensor (txnlog)``: ``airflow_fanout.status.sink_status()`` on the table's ``s3a://`` URL with
  the server's storage options: the sensor's and trigger's call per sink (``lagging()`` makes it
  once per watched sink). It reads the log with ``airflow_fanout.txnlog`` through ``obstore``:
  ``_last_checkpoint``, one listing from the hinted checkpoint on (``offset``), ranged reads of
  the checkpoint's ``txn`` column, one GET per commit after the checkpoint. Its obstore store is
  cached per bucket and credentials (``airflow_fanout.storage.object_store``), so its HTTP
  connections are reused across checks, as in a sensor that polls.
* ``deltalake``: ``deltalake.DeltaTable("s3://...", storage_options=...).transaction_version(app_id)``,
  a fresh table load each time (the snapshot replays every file action of the last checkpoint and
  the commits after it; each load builds its own store, so its own connections).
* For reference, in the same rounds (``--no-local`` skips them): both again on the same table's
  local copy (``status_check``'s built table, not the 8 sink copies), storage ``local disk``:
  what S3 adds, measured under the same load as the S3 numbers.

Tables: those of ``benchmarks/status_check.py`` (built there, or reused from its cache under
``--work-dir``, the same default), commits in {10, 1,000, 10,000} x files in {few, 100k}
(``--quick``: {10, 1,000} x {few}). What is uploaded: each table's whole ``_delta_log`` folder
(every JSON commit, every checkpoint, old ones included, so listings are as long as the real log's,
and ``_last_checkpoint``), once per run, to ``s3a://status-bench/<table key>`` in a bucket of an S3
server this benchmark starts (its data under ``<work-dir>/s3-server``, removed after it is stopped
unless ``--keep-data``). The data files are NOT uploaded: neither contender opens them (the txn
reader reads only the log; ``deltalake``'s table load reads the log only). One copy per table (no
8 sinks: the numbers are per table; a status check of N sinks costs N of them, one after another).

Every timing is warm: one untimed pass of each contender first (it also asserts that all read
the table's expected txn version; its time is kept as ``first_ms``, the sensor's includes making
its store). Then ``--repeat`` rounds (default 7), each timing every contender once, one after
another; median and min per table. The targets (``targets()``, on medians, S3 only, at 10,000
commits / 100,000 files): < 50 ms per table, >= 10x faster than ``deltalake``. An untimed census
pass counts the sensor's requests by kind (``obstore`` calls: GET, ranged GET, HEAD, listing
pages) and the time spent in them, and a small GET (the last JSON commit of the largest table) is
timed alone: the server's round trip, the floor of every request.

    python -m benchmarks.status_check_s3 [--quick] [--commits 10 1000 10000] [--files few 100k] [--repeat N]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deltalake import DeltaTable

from airflow_fanout.status import format_table, sink_status
from airflow_fanout.storage import object_path, object_store
from benchmarks.common import PLOTS_DIR, ROOT, summarize, write_results
from benchmarks.status_check import (
    APP_ID,
    CHECKPOINT_INTERVAL,
    DEFAULT_WORK_DIR,
    RECIPE,
    TableSpec,
    ensure_table,
    files_label,
    log,
    parse_files,
    save_figure,
    sensor_targets,
    tree_size,
)
from tests.s3.server import S3Server, weed_binary

NAME = "status_check_s3"
BUCKET = "status-bench"
TARGET_PER_TABLE_MS = 50.0
TARGET_SPEEDUP = 10.0
#: (commits, data files) the targets are set at
TARGET_AT = (10_000, 100_000)
SENSOR = "sensor (txnlog)"
DELTALAKE = "deltalake"
#: obstore calls the txn reader makes (``airflow_fanout.txnlog`` imports obstore in each function)
REQUEST_KINDS = ("get", "get_range", "head", "list")
S3 = "s3"
LOCAL = "local disk"


# --------------------------------------------------------------------------------------------
# Upload


@dataclass(frozen=True)
class Uploaded:
    url: str  # s3a://bucket/key, what the sensor is given
    files: int
    bytes: int
    seconds: float


def upload_log(table: Path, url: str, options: Mapping[str, str]) -> Uploaded:
    """Put every file of ``table``'s ``_delta_log`` under ``url`` (one ``obstore.put`` each, in name
    order)."""
    import obstore

    where = object_path(url)
    assert where is not None
    store = object_store(where, options)
    log_dir = table / "_delta_log"
    names = sorted(os.listdir(log_dir))
    start = time.perf_counter()
    size = 0
    last = start
    for n, name in enumerate(names, 1):
        data = (log_dir / name).read_bytes()
        obstore.put(store, f"{where.key}/_delta_log/{name}", data)
        size += len(data)
        now = time.perf_counter()
        if now - last >= 10 or n == len(names):
            last = now
            log(f"  {table.name}: uploaded {n:,}/{len(names):,} files, {size / 2**20:,.1f} MiB ({now - start:.1f} s)")
    return Uploaded(url, len(names), size, time.perf_counter() - start)


def settle(server: S3Server, idle_percent: float = 10.0, timeout_s: float = 60.0) -> None:
    """Wait (up to ``timeout_s``) until the server's process is idle after the uploads, so that any
    work it still does for them is not timed."""
    import psutil

    assert server.proc is not None
    process = psutil.Process(server.proc.pid)
    start = time.perf_counter()
    busy = process.cpu_percent(interval=1.0)
    while busy > idle_percent and time.perf_counter() - start < timeout_s:
        busy = process.cpu_percent(interval=1.0)
    log(f"S3 server at {busy:.0f}% CPU after {time.perf_counter() - start:.0f} s")


# --------------------------------------------------------------------------------------------
# Measurements


def sensor_check(path: str, options: Mapping[str, str] | None) -> int | None:
    return sink_status("events", path, path, APP_ID, None if options is None else dict(options)).txn_version


def deltalake_check(path: str, options: Mapping[str, str] | None) -> int | None:
    url = "s3://" + path.removeprefix("s3a://") if path.startswith("s3a://") else path
    return DeltaTable(url, storage_options=None if options is None else dict(options)).transaction_version(APP_ID)


#: (contender, storage): storage is S3 or LOCAL
Contender = tuple[str, str]


@dataclass
class Timings:
    first_ms: float
    runs_ms: list[float]


def measure(
    checks: Mapping[Contender, Callable[[], int | None]], expected: int, repeat: int
) -> dict[Contender, Timings]:
    """One untimed, asserting pass of each check, then ``repeat`` rounds of all, interleaved."""
    out: dict[Contender, Timings] = {}
    for contender, check in checks.items():
        start = time.perf_counter()
        got = check()
        out[contender] = Timings((time.perf_counter() - start) * 1000, [])
        assert got == expected, (contender, got, expected)
    for _ in range(repeat):
        for contender, check in checks.items():
            start = time.perf_counter()
            got = check()
            out[contender].runs_ms.append((time.perf_counter() - start) * 1000)
            assert got == expected, (contender, got, expected)
    return out


@contextlib.contextmanager
def counting_requests() -> Iterator[dict[str, list[float]]]:
    """Count (and time, in ms) the obstore calls made inside the block, by kind, failed ones (a
    404) included; a listing counts once per page. A GET's time is to its response headers (the
    body is read after)."""
    import obstore

    calls: dict[str, list[float]] = {kind: [] for kind in REQUEST_KINDS}
    originals = {kind: getattr(obstore, kind) for kind in REQUEST_KINDS}

    def wrap(kind: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            if kind == "list":
                pages = []
                for page in fn(*args, **kwargs):
                    pages.append(page)
                    calls[kind].append((time.perf_counter() - start) * 1000)
                    start = time.perf_counter()
                if not pages:
                    calls[kind].append((time.perf_counter() - start) * 1000)
                return iter(pages)
            try:
                return fn(*args, **kwargs)
            finally:  # a failed call (a 404) was a request too
                calls[kind].append((time.perf_counter() - start) * 1000)

        return counted

    for kind, fn in originals.items():
        setattr(obstore, kind, wrap(kind, fn))
    try:
        yield calls
    finally:
        for kind, fn in originals.items():
            setattr(obstore, kind, fn)


def census(url: str, options: Mapping[str, str], expected: int) -> dict[str, Any]:
    """The sensor's requests for one check, by kind, with the time spent in them."""
    with counting_requests() as calls:
        start = time.perf_counter()
        got = sensor_check(url, options)
        wall = (time.perf_counter() - start) * 1000
    assert got == expected, (url, got, expected)
    requests = {kind: len(times) for kind, times in calls.items() if times}
    in_requests = sum(sum(times) for times in calls.values())
    return {
        "requests": requests,
        "requests_total": sum(requests.values()),
        "ms_in_requests": round(in_requests, 3),
        "check_ms": round(wall, 3),
    }


def small_get_ms(url: str, name: str, options: Mapping[str, str], times: int = 25) -> list[float]:
    """A GET of the log file ``name`` (a JSON commit: about a kilobyte), body included: the
    server's round trip, the floor of every request."""
    import obstore

    where = object_path(url)
    assert where is not None
    store = object_store(where, options)
    key = f"{where.key}/_delta_log/{name}"
    bytes(obstore.get(store, key).bytes())
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        bytes(obstore.get(store, key).bytes())
        samples.append((time.perf_counter() - start) * 1000)
    return samples


# --------------------------------------------------------------------------------------------
# Report


def row(spec: TableSpec, contender: Contender, timings: Timings) -> dict[str, Any]:
    return {
        "commits": spec.commits,
        "files": spec.label,
        "data_files": spec.data_files,
        "contender": contender[0],
        "storage": contender[1],
        "txn_version": spec.expected,
        "per_table_ms": summarize(timings.runs_ms),
        "first_ms": round(timings.first_ms, 3),
    }


def print_table(rows: Sequence[dict[str, Any]]) -> None:
    header = ["commits", "files", "contender", "storage", "per table min", "per table median", "requests"]
    lines = [[*header, "deltalake/sensor"]]
    for r in rows:
        if "per_table_ms" not in r:
            continue
        lines.append(
            [
                f"{r['commits']:,}",
                f"{r['data_files']:,}",
                r["contender"],
                r["storage"],
                f"{r['per_table_ms']['min']:.2f} ms",
                f"{r['per_table_ms']['median']:.2f} ms",
                str(r["census"]["requests_total"]) if "census" in r else "",
                f"{r['deltalake_over_sensor']}x" if "deltalake_over_sensor" in r else "",
            ]
        )
    print(format_table(lines), flush=True)


def targets(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sensor path against its S3 targets at the largest table measured ("met" on medians; a
    note says so when that is not the table the targets are set at)."""
    sensor = [r for r in rows if r.get("contender") == SENSOR and r.get("storage") == S3]
    if not sensor:
        return []
    top = max(sensor, key=lambda r: (r["data_files"], r["commits"]))
    at = (top["commits"], top["data_files"])
    deltalake = next(
        (
            r
            for r in rows
            if r.get("contender") == DELTALAKE and r.get("storage") == S3 and (r["commits"], r["data_files"]) == at
        ),
        None,
    )
    note = (
        {}
        if at == TARGET_AT
        else {"note": f"the targets are set at {TARGET_AT[0]:,} commits / {TARGET_AT[1]:,} files: not measured"}
    )
    return sensor_targets(
        top,
        deltalake,
        per_table_ms=TARGET_PER_TABLE_MS,
        speedup=TARGET_SPEEDUP,
        speedup_key="per_table_ms",
        where=" on S3",
        extra=note,
    )


def plot(rows: Sequence[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = [r for r in rows if "per_table_ms" in r]
    variants = sorted({r["files"] for r in measured}, key=lambda v: (v != "few", len(v), v))
    contenders = list(dict.fromkeys(r["contender"] for r in measured))
    markers = dict(zip(contenders, "osD^v<>p", strict=False))
    colors = dict(zip(contenders, ("tab:blue", "tab:orange", "tab:green", "tab:red"), strict=False))
    fig, axes = plt.subplots(1, len(variants), figsize=(5.5 * len(variants), 4.8), sharey=True, squeeze=False)
    for ax, variant in zip(axes[0], variants, strict=True):
        for contender in contenders:
            for storage, style in ((S3, "-"), (LOCAL, "--")):
                points = sorted(
                    (r["commits"], r["per_table_ms"]["median"], r["per_table_ms"]["min"])
                    for r in measured
                    if r["contender"] == contender and r["storage"] == storage and r["files"] == variant
                )
                if not points:
                    continue
                xs = [p[0] for p in points]
                ax.plot(
                    xs,
                    [p[1] for p in points],
                    marker=markers[contender],
                    color=colors[contender],
                    linestyle=style,
                    alpha=1.0 if storage == S3 else 0.5,
                    label=f"{contender}, {'S3' if storage == S3 else storage} (median)",
                )
                ax.scatter(xs, [p[2] for p in points], marker=markers[contender], s=12, color="grey")
        ax.axhline(TARGET_PER_TABLE_MS, color="green", linestyle=":", label=f"target on S3: {TARGET_PER_TABLE_MS:g} ms")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("commits in the log")
        ax.set_title("one small file per commit" if variant == "few" else f"{variant} data files")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("one table's txn check, ms (log)")
    title = "Workload B on S3 (SeaweedFS on loopback) vs local disk: one table's check (grey dots: min)"
    save_figure(fig, axes[0], title, path)


# --------------------------------------------------------------------------------------------
# Main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 and 1,000 commits, few files")
    parser.add_argument("--commits", type=int, nargs="+", help="commit counts (default 10 1000 10000)")
    parser.add_argument("--files", nargs="+", help="file variants: few, 10k, 100k, ... (default few 100k)")
    parser.add_argument("--repeat", type=int, default=7, help="timed rounds per table (default 7)")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="status_check's table cache")
    parser.add_argument("--keep-data", action="store_true", help="keep the S3 server's data folder")
    parser.add_argument("--no-local", action="store_true", help="skip the same checks on the local tables")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--results-name", help="default status_check_s3, or status_check_s3-quick with --quick")
    args = parser.parse_args(argv)
    args.commits = args.commits or ([10, 1000] if args.quick else [10, 1000, 10000])
    args.files = [parse_files(f) for f in (args.files or (["few"] if args.quick else ["few", "100k"]))]
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    began = time.perf_counter()
    work_dir: Path = args.work_dir
    specs = []
    for commits in args.commits:
        for files in args.files:
            spec = TableSpec(commits, files)
            if files is not None and spec.bulk_files < 2:
                log(f"skipping {commits:,} commits x {files_label(files)} files: no more files than commits")
                continue
            specs.append(spec)
    tables: dict[TableSpec, Path] = {}
    builds: list[dict[str, Any]] = []
    for spec in specs:
        tables[spec], build_s = ensure_table(spec, work_dir)
        files, size = tree_size(tables[spec] / "_delta_log")
        builds.append({"table": spec.key, "build_s": round(build_s, 1), "cached": build_s == 0.0})
        builds[-1].update({"log_files": files, "log_mib": round(size / 2**20, 1)})

    server_dir = work_dir / "s3-server"
    shutil.rmtree(server_dir, ignore_errors=True)
    log(f"starting the S3 server (data under {server_dir})")
    server = S3Server(server_dir).start()
    rows: list[dict[str, Any]] = []
    uploads: list[dict[str, Any]] = []
    try:
        options = server.storage_options
        bucket = server.create_bucket(BUCKET)
        uploaded: dict[TableSpec, Uploaded] = {}
        for spec in specs:
            log(f"uploading {spec.key}/_delta_log")
            up = uploaded[spec] = upload_log(tables[spec], f"{bucket}/{spec.key}", options)
            uploads.append(
                {"table": spec.key, "url": up.url, "files": up.files, "mib": round(up.bytes / 2**20, 1)}
                | {"seconds": round(up.seconds, 1)}
            )
        settle(server)
        round_trip = small_get_ms(uploaded[specs[-1]].url, f"{specs[-1].expected:020d}.json", options)
        log(f"small GET round trip: {statistics.median(round_trip):.2f} ms median")
        for spec in specs:
            url = uploaded[spec].url
            log(f"measuring {spec.commits:,} commits, {spec.data_files:,} data files ({url})")
            local = str(tables[spec])
            calls: dict[Contender, Callable[[], int | None]] = {
                (SENSOR, S3): functools.partial(sensor_check, url, options),
                (DELTALAKE, S3): functools.partial(deltalake_check, url, options),
            }
            if not args.no_local:
                calls[SENSOR, LOCAL] = functools.partial(sensor_check, local, None)
                calls[DELTALAKE, LOCAL] = functools.partial(deltalake_check, local, None)
            timings = measure(calls, spec.expected, args.repeat)
            measured = {contender: row(spec, contender, t) for contender, t in timings.items()}
            measured[SENSOR, S3]["census"] = census(url, options, spec.expected)
            for storage in (S3, LOCAL):
                if (SENSOR, storage) in timings:
                    ratio = statistics.median(timings[DELTALAKE, storage].runs_ms) / statistics.median(
                        timings[SENSOR, storage].runs_ms
                    )
                    measured[SENSOR, storage]["deltalake_over_sensor"] = round(ratio, 1)
            rows += measured.values()
    finally:
        server.stop()
        if not args.keep_data:
            shutil.rmtree(server_dir, ignore_errors=True)

    print_table(rows)
    checks = targets(rows)
    for check in checks:
        print(check, flush=True)
    name = args.results_name or (f"{NAME}-quick" if args.quick else NAME)
    load = os.getloadavg()
    weed = subprocess.run([weed_binary(), "version"], capture_output=True, text=True, check=False)
    version = weed.stdout.splitlines()
    params = {
        "commits": args.commits,
        "files": ["few" if f is None else files_label(f) for f in args.files],
        "repeat": args.repeat,
        "checkpoint_interval": CHECKPOINT_INTERVAL,
        "app_id": APP_ID,
        "recipe": RECIPE,
        "work_dir": str(work_dir),
        "server": f"SeaweedFS ({version[0].strip() if version else 'weed'}), weed server -s3 on loopback",
        "uploaded": "each table's whole _delta_log folder (no data files), once",
        "small_get_ms": summarize(round_trip),
        "builds": builds,
        "uploads": uploads,
        "load_average_at_end": [round(x, 2) for x in load],
        "wall_s": round(time.perf_counter() - began, 1),
    }
    path = write_results(name, params, [*rows, *checks])
    log(f"wrote {path.relative_to(ROOT)}")
    if not args.no_plot:
        png = PLOTS_DIR / f"{name}.png"
        plot(rows, png)
        log(f"wrote {png.relative_to(ROOT)}")
    log(f"done in {time.perf_counter() - began:.1f} s (load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})")


if __name__ == "__main__":
    main()
