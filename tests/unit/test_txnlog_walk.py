"""``first_commit_at_least`` (how a view's sensor finds the upstream commit of a batch) on logs
delta-rs writes, with checkpoints and cleaned-up commits, against a replay of every commit; and
what it lists: the whole log only when the answer lies before the hinted checkpoint."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from airflow_fanout import txnlog
from airflow_fanout.txnlog import first_commit_at_least, read_txn_log

SILVER, OTHER = "a.silver", "b.bronze"


def write_log(path: Path, writes: list[tuple[str, int]], checkpoint_after: int | None = None) -> None:
    """One commit per (app id, txn version); a checkpoint after commit ``checkpoint_after``."""
    for commit, (app, version) in enumerate(writes):
        props = CommitProperties(app_transactions=[Transaction(app, version)])
        write_deltalake(str(path), pa.table({"n": [commit]}), mode="append", commit_properties=props)
        if commit == checkpoint_after:
            DeltaTable(str(path)).create_checkpoint()


def replayed(writes: list[tuple[str, int]], app: str, version: int) -> int | None:
    """The reference: the first table version whose txn state holds ``app`` at ``version`` or more."""
    for commit, (written_app, written) in enumerate(writes):
        if written_app == app and written >= version:
            return commit
    return None


# silver writes its batches 0..7 as commits 0, 2, 4, ... with another app's commits between
WRITES = [w for batch in range(8) for w in ((SILVER, batch), (OTHER, batch))]


@pytest.fixture
def listings(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The ``start_after`` of every listing of a local log."""
    seen: list[str | None] = []
    names = txnlog.LocalLogFolder.names

    def counted(self: txnlog.LocalLogFolder, start_after: str | None = None) -> list[str] | None:
        seen.append(start_after)
        return names(self, start_after)

    monkeypatch.setattr(txnlog.LocalLogFolder, "names", counted)
    return seen


@pytest.mark.parametrize("checkpoint_after", [None, 5, 9, 15])
def test_every_batch_is_found_at_the_commit_that_wrote_it(
    tmp_path: Path, checkpoint_after: int | None, listings: list[str | None]
) -> None:
    write_log(tmp_path, WRITES, checkpoint_after)
    for batch in range(10):
        listings.clear()
        assert first_commit_at_least(str(tmp_path), SILVER, batch) == replayed(WRITES, SILVER, batch), batch
        answer = replayed(WRITES, SILVER, batch)
        if checkpoint_after is None:
            assert listings == [None], (batch, listings)  # one listing, shared by state and walk
        elif answer is not None:
            # the txn state is read from the hinted checkpoint on; the whole log is listed only
            # when the commit sought is older than the checkpoint
            hinted = f"{checkpoint_after:020d}."
            assert listings == ([hinted, None] if answer <= checkpoint_after else [hinted]), (batch, listings)


def test_cleaned_up_commits_give_the_oldest_commit_left(tmp_path: Path) -> None:
    write_log(tmp_path, WRITES, checkpoint_after=9)
    for commit in range(9):  # a log cleanup removes the commits before the checkpoint
        (tmp_path / "_delta_log" / f"{commit:020d}.json").unlink()
    log = read_txn_log(str(tmp_path))
    assert log is not None and log.txn_version(SILVER) == 7
    assert first_commit_at_least(str(tmp_path), SILVER, 6) == 12  # still in the log
    assert first_commit_at_least(str(tmp_path), SILVER, 5) == 10  # commit 10 wrote batch 5
    # batch 2 was commit 4, gone: the oldest commit left that holds silver's txn answers
    assert first_commit_at_least(str(tmp_path), SILVER, 2) == 10
    assert first_commit_at_least(str(tmp_path), SILVER, 8) is None
    assert first_commit_at_least(str(tmp_path), "never.written", 0) is None


def test_no_table_yet(tmp_path: Path) -> None:
    assert first_commit_at_least(str(tmp_path / "missing"), SILVER, 0) is None
