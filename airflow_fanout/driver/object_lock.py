"""The run lock on an object-store checkpoint (``s3a://``, ``abfss://``, ``gs://``): a lease.

There is no ``O_EXCL`` and no process to check on another host, so the lock is an object
created with a conditional put (S3 ``If-None-Match: *``; Azure and GCS have the same) holding
its owner and ``expires_at``. The owner renews the lease every third of its length with a put
conditional on the object's ETag (``If-Match``); a run that finds the lock takes it over only
once the lease has expired (a run killed with SIGKILL stops renewing), or at once when the owner
ran on this host and its process is gone (as the local lock does), with a put conditional on the
ETag it read, so of two runs taking over at once one wins. A holder that fails to renew
(its lease taken over after a long pause) logs an error; Delta's txn ids still keep any batch
from being written twice.

Needs ``obstore`` in the driver's Python (installed with airflow-fanout); without it (a cluster
whose Python lacks it) the run goes unlocked and says so."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_fanout.driver.processes import alive, start_time
from airflow_fanout.exceptions import ConcurrentRunError
from airflow_fanout.storage import ObjectPath, object_store

log = logging.getLogger("airflow_fanout.driver")
#: seconds a lease lasts without renewal: how long a killed run blocks the next one at most
LEASE_S = 120.0


def wait_to_acquire(acquire: Callable[[], None], timeout_s: float, poll_s: float) -> None:
    """Call ``acquire`` until it stops raising ``ConcurrentRunError`` (a live run holds the lock),
    for ``timeout_s`` at most; the lock classes' ``wait``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            acquire()
            return
        except ConcurrentRunError:
            if time.monotonic() > deadline:
                raise
            time.sleep(poll_s)


@dataclass
class ObjectRunLock:
    """A lease lock at ``where`` (an object's path in its store)."""

    where: ObjectPath
    description: str
    storage_options: Mapping[str, str] | None = None
    lease_s: float = LEASE_S
    held: bool = False
    _token: str = field(default_factory=lambda: uuid.uuid4().hex)
    _etag: str | None = None
    _renewer: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def path(self) -> str:
        return f"{self.where.store_url}/{self.where.key}"

    @property
    def _store(self) -> Any:
        return object_store(self.where, self.storage_options)

    def _owner_doc(self) -> bytes:
        now = time.time()
        return json.dumps(
            {
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "pid_started": start_time(os.getpid()),
                "token": self._token,
                "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "expires_at": now + self.lease_s,
            }
        ).encode()

    def acquire(self) -> None:
        """Take the lock, or an expired lease; raise ``ConcurrentRunError`` if a live run holds it."""
        import obstore
        from obstore.exceptions import AlreadyExistsError, NotFoundError, PreconditionError

        for _ in range(5):
            try:
                self._etag = obstore.put(self._store, self.where.key, self._owner_doc(), mode="create")["e_tag"]
                return self._hold()
            except AlreadyExistsError:
                pass
            try:
                found = obstore.get(self._store, self.where.key)
                owner = json.loads(bytes(found.bytes()))
            except NotFoundError:
                continue  # released meanwhile: try to create it again
            except ValueError:
                owner = {}  # half-written or garbage: treated as expired
            expires = float(owner.get("expires_at", 0))
            pid, started = owner.get("pid"), owner.get("pid_started")
            dead_here = (
                owner.get("host") == socket.gethostname()
                and isinstance(pid, int)
                and not alive(pid, started if isinstance(started, str) else None)
            )
            if expires > time.time() and not dead_here:
                left = round(expires - time.time())
                raise ConcurrentRunError(
                    f"another run of {self.description} is in progress: pid {owner.get('pid')} on host "
                    f"{owner.get('host')} since {owner.get('started_at')} holds {self.path} (its lease is "
                    f"renewed while it runs; if that run is dead the lease ends in {left}s: rerun then)"
                )
            log.warning(
                "run lock %s: the lease of pid %s on %s expired; taking it over",
                self.path,
                owner.get("pid"),
                owner.get("host"),
            )
            try:
                mode: Any = {"e_tag": found.meta["e_tag"]}
                self._etag = obstore.put(self._store, self.where.key, self._owner_doc(), mode=mode)["e_tag"]
                return self._hold()
            except (PreconditionError, NotFoundError):
                continue  # another run took it over (or it was released) first
        raise ConcurrentRunError(f"could not take the run lock {self.path} of {self.description}")

    def wait(self, timeout_s: float = 1800.0, poll_s: float = 1.0) -> None:
        """Take the lock, waiting while a live run holds it."""
        wait_to_acquire(self.acquire, timeout_s, poll_s)

    def _hold(self) -> None:
        self.held = True
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_until_released, name="fanout-lock-lease", daemon=True)
        self._renewer.start()

    def _renew_until_released(self) -> None:
        import obstore

        while not self._stop.wait(self.lease_s / 3):
            try:
                mode: Any = {"e_tag": self._etag}
                self._etag = obstore.put(self._store, self.where.key, self._owner_doc(), mode=mode)["e_tag"]
            except Exception as exc:  # taken over (our lease ran out), or the store is unreachable
                log.error("run lock %s: renewing the lease failed: %s", self.path, exc)

    def release(self) -> None:
        import obstore

        if not self.held:
            return
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=30)
        try:
            current = json.loads(bytes(obstore.get(self._store, self.where.key).bytes()))
            if current.get("token") == self._token:
                obstore.delete(self._store, self.where.key)
        except Exception as exc:  # gone already, or unreachable: the lease expires on its own
            log.warning("run lock %s: not released (%s); its lease expires on its own", self.path, exc)
        self.held = False
