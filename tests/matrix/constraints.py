"""Airflow's constraints file for one (Airflow, Python) pair, as the matrix installs with it.

Airflow publishes them at ``CONSTRAINTS_URL`` (a branch per release, a file per Python). That host
is not reachable from the machines this project is built on (only package registries are), so a
*stand-in* can be built and kept in ``tests/matrix/constraints/``: what pip resolves, on that
Python, for Airflow and the providers the fan-out touches, from packages uploaded before the
Airflow release (``--uploaded-prior-to``). That is how Airflow makes its own ("the highest
versions that resolve", frozen at release time), over fewer providers. The file says which it
is in its first lines; ``airflow_constraints`` prefers, in order: a file in
``tests/matrix/constraints/`` named after the real one, the real URL, a stand-in built now.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import urllib.request
from pathlib import Path

CONSTRAINTS_URL = "https://raw.githubusercontent.com/apache/airflow/constraints-{airflow}/constraints-{python}.txt"
KEPT = Path(__file__).with_name("constraints")
#: When each Airflow release of the matrix was uploaded to PyPI (the wheel's upload time,
#: rounded up): the stand-in's --uploaded-prior-to.
RELEASED = {"3.2.2": "2026-05-29T06:00:00Z", "3.3.2": "2026-09-17T09:00:00Z"}
#: What the stand-in resolves besides apache-airflow: the providers a fan-out deployment
#: installs (the spark provider with its pyspark extra, as Airflow's own file pins pyspark too).
PROVIDERS = (
    "apache-airflow-providers-apache-spark[pyspark]",
    "apache-airflow-providers-openlineage",
    "apache-airflow-providers-amazon",
)


def kept_path(airflow: str, python: str) -> Path:
    return KEPT / f"constraints-{airflow}-{python}.txt"


def airflow_constraints(airflow: str, python: str, interpreter: str) -> Path:
    """The constraints file for Airflow ``airflow`` on Python ``python`` (``3.10``), fetching or
    building (with ``interpreter``, a Python of that version) and keeping it when missing."""
    kept = kept_path(airflow, python)
    if kept.is_file():
        return kept
    KEPT.mkdir(exist_ok=True)
    url = CONSTRAINTS_URL.format(airflow=airflow, python=python)
    try:
        with urllib.request.urlopen(url, timeout=15) as answer:
            kept.write_bytes(answer.read())
        return kept
    except OSError as exc:
        why = f"{url} could not be fetched ({exc})"
    kept.write_text(stand_in(airflow, python, interpreter, why), encoding="utf-8")
    return kept


def stand_in(airflow: str, python: str, interpreter: str, why: str) -> str:
    """Constraints as Airflow would make them for ``airflow`` on ``python``, resolved by pip."""
    with tempfile.TemporaryDirectory(prefix="constraints-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([interpreter, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
        subprocess.run([*pip, "install", "-q", "--upgrade", "pip"], check=True)
        report = Path(tmp) / "report.json"
        resolve = ["install", "-q", "--dry-run", "--ignore-installed", "--report", str(report)]
        frozen = ["--uploaded-prior-to", RELEASED[airflow]]
        subprocess.run([*pip, *resolve, *frozen, f"apache-airflow=={airflow}", *PROVIDERS], check=True)
        installs = json.loads(report.read_text())["install"]
    pins = sorted((i["metadata"]["name"], i["metadata"]["version"]) for i in installs)
    header = [
        f"# STAND-IN for Airflow {airflow}'s constraints-{python}.txt: {why}.",
        f"# Resolved by pip on Python {python} from packages uploaded before {RELEASED[airflow]}:",
        f"# apache-airflow=={airflow} {' '.join(PROVIDERS)}.",
        "# Replace this file with the real one where GitHub is reachable (tests/matrix/constraints.py).",
    ]
    return "\n".join([*header, *(f"{name}=={ver}" for name, ver in pins)]) + "\n"
