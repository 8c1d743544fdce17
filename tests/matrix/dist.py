"""The wheel and sdist as a release builds them (``python -m build``: an isolated build from
pyproject.toml), checked with ``twine check --strict``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def build_dists(out: Path) -> tuple[Path, Path]:
    """Build both into ``out`` (emptied first); returns (wheel, sdist)."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        raise AssertionError(f"python -m build failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    # setuptools prints its deprecations (e.g. of a license table) as warnings, not errors
    warnings = [line for line in (done.stdout + done.stderr).splitlines() if "Deprecat" in line]
    if warnings:
        raise AssertionError("the build warns:\n" + "\n".join(warnings))
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return wheel, sdist


def twine_check(*dists: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dists)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise AssertionError(f"twine check failed:\n{done.stdout}{done.stderr}")
    return done.stdout
