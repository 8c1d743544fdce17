"""The run lock's lease on a real S3 server (SeaweedFS honours If-None-Match and If-Match puts):
a live holder refuses others and keeps its lease by renewing; a dead one's lease expires and is
taken over once, by one of two runs trying at once; a late release never drops another's lock."""

from __future__ import annotations

import threading
import time

import obstore
import pytest

from airflow_fanout.driver.object_lock import ObjectRunLock
from airflow_fanout.exceptions import ConcurrentRunError
from airflow_fanout.storage import object_path, object_store
from tests.s3.server import S3Server


def lease(server: S3Server, url: str, lease_s: float) -> ObjectRunLock:
    where = object_path(url)
    assert where is not None
    return ObjectRunLock(where, "app shop", server.storage_options, lease_s=lease_s)


#: The lease the test holds: long enough that one slow PUT under a loaded suite (2 s seen with
#: 1.5 s leases) does not let it expire before the holder's next renewal (every LEASE_S / 3).
LEASE_S = 5.0


def test_a_lease_is_kept_while_renewed_and_taken_over_once_expired(s3_server: S3Server, s3_bucket: str) -> None:
    url = f"{s3_bucket}/cp/_fanout/locks/stream.lock"
    holder = lease(s3_server, url, lease_s=LEASE_S)
    holder.acquire()
    with pytest.raises(ConcurrentRunError, match=r"another run of app shop is in progress: pid \d+ on host"):
        lease(s3_server, url, LEASE_S).acquire()
    time.sleep(LEASE_S + 1)  # longer than the lease: the holder's renewals keep it
    with pytest.raises(ConcurrentRunError, match="lease ends in"):
        lease(s3_server, url, LEASE_S).acquire()

    # The holder dies (SIGKILL: it stops renewing and never releases); two runs start later.
    holder._stop.set()
    assert holder._renewer is not None
    holder._renewer.join()
    time.sleep(LEASE_S + 0.1)
    takers = [lease(s3_server, url, 30) for _ in range(2)]
    outcomes: list[str] = []

    def take(lock: ObjectRunLock) -> None:
        try:
            lock.acquire()
            outcomes.append("took it")
        except ConcurrentRunError:
            outcomes.append("refused")

    threads = [threading.Thread(target=take, args=(t,)) for t in takers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused", "took it"]
    winner = next(t for t in takers if t.held)

    holder.release()  # the dead run's late release leaves the winner's lock alone
    where = object_path(url)
    assert where is not None
    store = object_store(where, s3_server.storage_options)
    assert winner._token.encode() in bytes(obstore.get(store, where.key).bytes())
    winner.release()
    with pytest.raises(FileNotFoundError):
        obstore.get(store, where.key)


def test_a_dead_owner_on_this_host_is_taken_over_at_once(s3_server: S3Server, s3_bucket: str) -> None:
    """As with a local lock: the owner ran here and its process is gone (SIGKILL), so the next run
    need not wait for the lease to end."""
    import json
    import socket
    import subprocess

    url = f"{s3_bucket}/cp/_fanout/locks/stream.lock"
    where = object_path(url)
    assert where is not None
    gone = subprocess.Popen(["true"])
    gone.wait()
    owner = {"host": socket.gethostname(), "pid": gone.pid, "pid_started": None, "expires_at": time.time() + 3600}
    obstore.put(object_store(where, s3_server.storage_options), where.key, json.dumps(owner).encode())
    taker = lease(s3_server, url, 30)
    taker.acquire()
    assert taker.held
    taker.release()
