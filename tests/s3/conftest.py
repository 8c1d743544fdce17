"""A real S3 server (SeaweedFS, ``tests/s3/server.py``) for the object-storage tests: one per
test process, a fresh bucket per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.s3.server import S3Server

_buckets = itertools.count()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(tmp_path_factory.mktemp("s3")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _lake_bucket(s3_server: S3Server) -> str:
    return s3_server.create_bucket("lake")


@pytest.fixture
def s3_bucket(_lake_bucket: str) -> str:
    """A folder of its own for the test in the server's bucket: its ``s3a://`` URL."""
    return f"{_lake_bucket}/test-{next(_buckets)}"
