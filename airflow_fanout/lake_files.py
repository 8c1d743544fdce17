"""Small text files (run reports, a spec for a driver on a cluster) next to a checkpoint that is
a local folder or an object-store prefix, read and written from the Airflow side (``obstore``,
no JVM). The driver's side of the same files is ``driver.hadoop_files``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

from airflow_fanout.storage import object_path, object_store


def join(folder: str, name: str) -> str:
    return f"{folder.rstrip('/')}/{name}" if "://" in folder else str(Path(folder) / name)


def read_text(path: str, storage_options: Mapping[str, str] | None = None) -> str | None:
    """The text at ``path``; None if there is none."""
    where = object_path(path)
    if where is None:
        try:
            return Path(path.removeprefix("file://").removeprefix("file:")).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
    import obstore

    try:
        return bytes(obstore.get(object_store(where, storage_options), where.key).bytes()).decode("utf-8")
    except FileNotFoundError:  # obstore's NotFoundError is one
        return None


def write_text(path: str, text: str, storage_options: Mapping[str, str] | None = None, *, private: bool = False) -> str:
    """Write ``text`` at ``path`` (atomically: a rename locally, one put in a store); ``private``:
    readable by this user only (local files; an object store has its own access control)."""
    where = object_path(path)
    if where is None:
        target = Path(path.removeprefix("file://").removeprefix("file:"))
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
        return str(target)
    import obstore

    obstore.put(object_store(where, storage_options), where.key, text.encode("utf-8"))
    return path


def delete(path: str, storage_options: Mapping[str, str] | None = None) -> None:
    where = object_path(path)
    if where is None:
        Path(path).unlink(missing_ok=True)
        return
    import obstore

    with contextlib.suppress(FileNotFoundError):
        obstore.delete(object_store(where, storage_options), where.key)
