"""Zip the package for ``--py-files`` once per content: built on first use, cached by hash."""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent
# The driver needs the spec, the driver and the small shared modules; never the Airflow side.
_SHIPPED = (
    "__init__.py",
    "py.typed",
    "exceptions.py",
    "delta_packages.py",
    "spark_install.py",
    "storage.py",
    "spec",
    "driver",
)


def _shipped_files() -> list[Path]:
    out: list[Path] = []
    for name in _SHIPPED:
        path = PACKAGE_ROOT / name
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        elif path.exists():
            out.append(path)
    return out


def driver_zip(cache_dir: str | None = None) -> str:
    """Path of ``airflow_fanout-<hash>.zip`` holding the driver's modules (built if missing)."""
    files = _shipped_files()
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(PACKAGE_ROOT)).encode())
        digest.update(path.read_bytes())
    folder = Path(cache_dir or os.environ.get("FANOUT_CACHE_DIR") or Path(tempfile.gettempdir()) / "airflow-fanout")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"airflow_fanout-{digest.hexdigest()[:16]}.zip"
    if not target.exists():
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, f"airflow_fanout/{path.relative_to(PACKAGE_ROOT)}")
        os.replace(tmp, target)
    return str(target)
