"""One run of a spec at a time: a lock file under the checkpoint, per app id and slice.

Two runs of one stream would race for the same micro-batch ids, and two runs of one slice for
the same run version. Delta's txn ids already keep either race from writing a batch twice, but
the loser fails late with a Spark or Delta error. The lock makes the second run fail at once,
before Spark starts, naming the run that holds it (exit code 3).

The lock is a file created with ``O_EXCL`` holding the owner's host, pid and process start time.
A run killed with SIGKILL cannot remove it: the next run on the same host sees that the owner is
gone and takes the lock over, so a crash never needs a manual clean-up. A checkpoint in an object
store (``s3a://``, ``abfss://``, ``gs://``) gets a lease instead (``object_lock.ObjectRunLock``:
a conditional put, renewed while the run lives; see docs/guarantees.md)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.util import find_spec
from pathlib import Path

from airflow_fanout.driver.object_lock import ObjectRunLock, wait_to_acquire
from airflow_fanout.driver.processes import alive as _alive
from airflow_fanout.driver.processes import start_time as _start_time
from airflow_fanout.exceptions import ConcurrentRunError
from airflow_fanout.spec.model import FanOutSpec
from airflow_fanout.storage import object_path

log = logging.getLogger("airflow_fanout.driver")


def _local_dir(uri: str) -> Path | None:
    if uri.startswith("file://"):
        return Path(uri[len("file://") :])
    if uri.startswith("file:"):
        return Path(uri[len("file:") :])
    return None if "://" in uri else Path(uri)


@dataclass
class RunLock:
    """The lock of one spec's run: ``<checkpoint>/_fanout/locks/<stream|slice-<key>>.lock``."""

    path: Path
    description: str
    held: bool = False

    @classmethod
    def for_spec(cls, spec: FanOutSpec, storage_options: Mapping[str, str] | None = None) -> AnyRunLock | None:
        """The lock of ``spec``'s run (``storage_options``: for a checkpoint in an object store)."""
        key = spec.slice_key
        name = "stream" if key is None else "slice-" + re.sub(r"[^A-Za-z0-9_=-]", "_", key)
        what = f"app {spec.app_id}" + (f" slice {spec.slice_key}" if spec.slice_key is not None else "")
        return _lock(spec, f"{name}.lock", what, storage_options)

    @classmethod
    def for_view(
        cls, spec: FanOutSpec, sink: str, storage_options: Mapping[str, str] | None = None
    ) -> AnyRunLock | None:
        """The lock a slice run holds while it brings view ``sink`` up to date (other slices'
        runs of the spec wait for it: each applies the upstream's changes since the view's
        version, and two at once would apply some twice)."""
        return _lock(spec, f"view-{sink}.lock", f"view {sink} of app {spec.app_id}", storage_options)

    def wait(self, timeout_s: float = 1800.0, poll_s: float = 0.25) -> None:
        """Take the lock, waiting while a live run holds it (a dead holder's is taken over)."""
        wait_to_acquire(self.acquire, timeout_s, poll_s)

    def acquire(self) -> None:
        """Take the lock, or take over a dead owner's; raise ``ConcurrentRunError`` if a live run
        holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # a stale lock can be taken over by another starting run in between
            if self._create():
                self.held = True
                return
            owner = self._owner()
            if owner is None:
                continue  # released meanwhile, or unreadable half-written: try again
            same_host = owner.get("host") == socket.gethostname()
            pid, started = owner.get("pid"), owner.get("pid_started")
            if same_host and isinstance(pid, int) and not _alive(pid, started if isinstance(started, str) else None):
                log.warning(
                    "run lock %s: its owner (pid %s, since %s) is gone; taking it over",
                    self.path,
                    owner.get("pid"),
                    owner.get("started_at"),
                )
                self._break(owner)
                continue
            raise ConcurrentRunError(
                f"another run of {self.description} is in progress: pid {owner.get('pid')} on host "
                f"{owner.get('host')} since {owner.get('started_at')} holds {self.path}. Wait for it to "
                "finish. If that run is dead (another host, so this run cannot check), delete the lock "
                "file and rerun: replays are skipped by txn id."
            )
        raise ConcurrentRunError(f"could not take the run lock {self.path} of {self.description}")

    def release(self) -> None:
        if not self.held:
            return
        owner = self._owner()
        if owner is not None and owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
            self.path.unlink(missing_ok=True)
        self.held = False

    # -- the file -----------------------------------------------------------------------
    def _create(self) -> bool:
        pid = os.getpid()
        owner = {
            "host": socket.gethostname(),
            "pid": pid,
            "pid_started": _start_time(pid),
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        tmp = self.path.with_name(f".{self.path.name}.{pid}.tmp")
        tmp.write_text(json.dumps(owner), encoding="utf-8")
        try:
            os.link(tmp, self.path)  # atomic: fails if the lock exists, and never half-written
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def _owner(self) -> dict[str, object] | None:
        try:
            owner: dict[str, object] = json.loads(self.path.read_text(encoding="utf-8"))
            return owner
        except (OSError, ValueError):
            return None

    def _break(self, stale: dict[str, object]) -> None:
        """Remove a dead owner's lock, unless another run took it over meanwhile."""
        aside = self.path.with_name(f".{self.path.name}.stale.{os.getpid()}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        moved = json.loads(aside.read_text(encoding="utf-8")) if aside.exists() else None
        if moved is not None and moved != stale:  # not the dead owner's: put it back
            with contextlib.suppress(FileExistsError):
                os.link(aside, self.path)
        aside.unlink(missing_ok=True)


AnyRunLock = RunLock | ObjectRunLock


def _lock(spec: FanOutSpec, name: str, what: str, storage_options: Mapping[str, str] | None) -> AnyRunLock | None:
    """``<checkpoint>/_fanout/locks/<name>``: a lock file, or a lease in an object store."""
    folder = _local_dir(spec.run.checkpoint)
    if folder is not None:
        return RunLock(folder / "_fanout" / "locks" / name, what)
    where = object_path(spec.run.checkpoint.rstrip("/") + "/_fanout/locks/" + name)
    if where is None:  # pragma: no cover - a URL is either local (file:) or an object store
        return None
    if find_spec("obstore") is None:
        log.warning("checkpoint %s: no run lock (obstore is not installed in the driver's Python)", spec.run.checkpoint)
        return None
    return ObjectRunLock(where, what, storage_options)
