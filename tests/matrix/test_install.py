"""The release artifacts and the install matrix's cheapest meaningful slice (``make matrix`` runs all
of it): the built wheel (not an editable install) in fresh virtualenvs with Airflow's constraints,
on the oldest Python with the oldest Airflow declared and on the newest with the newest, on the
Airflow side alone: no pyspark, and a Spark that lives elsewhere for the DAG run."""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from airflow_fanout import __version__
from airflow_fanout.get_provider_info import get_provider_info
from tests.matrix.cell import Cell, interpreter, run_cell
from tests.matrix.dist import build_dists, twine_check

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_dists(tmp_path_factory.mktemp("dist"))


def test_wheel_and_sdist_are_release_ready(dists: tuple[Path, Path]) -> None:
    wheel, sdist = dists
    assert "PASSED" in twine_check(wheel, sdist)
    assert wheel.name == f"airflow_fanout-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        meta = Parser().parsestr(archive.read(f"airflow_fanout-{__version__}.dist-info/METADATA").decode())
        entry_points = archive.read(f"airflow_fanout-{__version__}.dist-info/entry_points.txt").decode()
    # one version source: the package's, which get_provider_info reports too
    assert meta["Version"] == __version__ == get_provider_info()["versions"][0]
    assert meta["License-Expression"] == "Apache-2.0"
    assert f"airflow_fanout-{__version__}.dist-info/licenses/LICENSE" in names
    assert meta["Requires-Python"] == ">=3.10"
    assert "Framework :: Apache Airflow :: Provider" in meta.get_all("Classifier", [])
    # Airflow's Providers page links the "Documentation" URL (its provider discovery reads it)
    urls = {url.split(",")[0] for url in meta.get_all("Project-URL", [])}
    assert {"Homepage", "Documentation", "Source", "Changelog"} <= urls
    # the Airflow side needs no Spark: pyspark and delta-spark only with the [spark] extra
    requires: list[str] = meta.get_all("Requires-Dist", [])
    core = [r for r in requires if "extra ==" not in r]
    spark = [r for r in requires if 'extra == "spark"' in r]
    assert not [r for r in core if r.startswith(("pyspark", "delta-spark", "pandas"))], core
    assert sorted(r.split("<")[0].split(">")[0] for r in spark) == ["delta-spark", "pyspark", "pyspark-client"]
    assert all("==" not in r for r in core), "pins belong in constraints files"
    assert "apache_airflow_provider" in entry_points and "get_provider_info" in entry_points
    for shipped in ("airflow_fanout/spec/schema.json", "airflow_fanout/driver/main.py", "airflow_fanout/py.typed"):
        assert shipped in names
    with tarfile.open(sdist) as archive:
        members = {m.name.split("/", 1)[1] for m in archive.getmembers() if "/" in m.name}
    assert {"LICENSE", "README.md", "pyproject.toml", "airflow_fanout/driver/main.py"} <= members


@pytest.mark.parametrize(
    ("cell", "plain_install"),
    # the plain install after Airflow once (it costs a second venv): on the oldest pair
    [(Cell("3.10", "3.2.2"), True), (Cell("3.13", "3.3.2"), False)],
    ids=["python3.10-airflow3.2.2", "python3.13-airflow3.3.2"],
)
def test_the_wheel_installs_into_airflow_and_runs_the_medallion_dag(
    cell: Cell, plain_install: bool, dists: tuple[Path, Path], tmp_path: Path
) -> None:
    if interpreter(cell.python) is None:
        pytest.fail(f"Python {cell.python} is not on this machine (pyenv): the install matrix needs it")
    try:
        result = run_cell(
            cell, tmp_path / cell.name, dists[0], spark=False, plain_install=plain_install, say=lambda line: None
        )
    finally:
        shutil.rmtree(tmp_path / cell.name / "venv", ignore_errors=True)  # ~300 MB
    steps = result["steps"]
    assert steps["airflow_side"]["pyspark"] is None and steps["airflow_side"]["pyspark-client"]
    assert steps["provider_and_cli"]["provider"] == __version__
    if plain_install:
        assert "apache-airflow" not in steps["wheel_after_airflow"]["moved"]
    assert steps["dag_without_spark"]["write_day"] == "failed"
    assert steps["dag_remote_spark"]["bronze"] == 80
    assert steps["dag_remote_spark"]["read_gold"]["events"] == steps["dag_remote_spark"]["silver"]
