"""Where the Spark that runs a driver lives, and which version it is. Imports neither pyspark nor airflow.

Three installs are common (README, "Install"):

- ``airflow-fanout[spark]``: the ``pyspark`` wheel is a whole Spark (``bin/spark-submit``, ``jars/``);
- a Spark distribution elsewhere, named by ``SPARK_HOME`` (an Airflow worker that submits to a
  cluster, or a cluster's own nodes);
- neither: an Airflow worker that only validates specs and waits on tables. The apache-spark
  provider then installs ``pyspark-client``, a ``pyspark`` package for Spark Connect with no
  ``spark-submit`` and no jars. Finding that package is not finding Spark, so every lookup here
  checks for ``bin/spark-submit`` and says what to install when it is missing.
"""

from __future__ import annotations

import os
import re
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path

INSTALL_HINT = (
    "install `airflow-fanout[spark]` (pyspark and delta-spark, for runs from this machine), or set SPARK_HOME "
    "to the Spark distribution to submit with (a cluster's Spark, 4.0 to 4.2)"
)
_CORE_JAR = re.compile(r"^spark-core_[0-9.]+-(\d+\.\d+\.\d+[^/]*)\.jar$")
_RELEASE = re.compile(r"^Spark (\d+\.\d+\.\d+\S*)")


class SparkNotFoundError(RuntimeError):
    """No Spark to submit with: the message says where it looked and what to install."""


def _has_spark_submit(home: Path) -> bool:
    return (home / "bin" / "spark-submit").is_file()


def spark_home() -> str:
    """The Spark to submit with: ``$SPARK_HOME``, else the installed ``pyspark`` wheel's folder
    (pip's pyspark is a whole Spark; its own ``find-spark-home`` misfires without SPARK_HOME)."""
    named = os.environ.get("SPARK_HOME")
    if named:
        if not _has_spark_submit(Path(named)):
            raise SparkNotFoundError(f"SPARK_HOME={named} has no bin/spark-submit: {INSTALL_HINT}")
        return named
    spec = find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise SparkNotFoundError(f"spark-submit not found: no SPARK_HOME and no pyspark installed; {INSTALL_HINT}")
    home = Path(spec.origin).parent
    if not _has_spark_submit(home):
        raise SparkNotFoundError(
            f"spark-submit not found: the pyspark package at {home} has no bin/spark-submit (it is pyspark-client, "
            f"Spark Connect's client, which the apache-spark provider installs); {INSTALL_HINT}"
        )
    return str(home)


def spark_version() -> str:
    """The version of the Spark that runs the job: ``$SPARK_HOME``'s when it is set (its
    ``RELEASE`` file or ``spark-core`` jar: the cluster's Spark), else the ``pyspark`` wheel's."""
    if not os.environ.get("SPARK_HOME"):
        try:
            return version("pyspark")
        except PackageNotFoundError:
            pass
    home = Path(spark_home())
    release = home / "RELEASE"
    if release.is_file():
        found = _RELEASE.match(release.read_text(encoding="utf-8", errors="replace"))
        if found:
            return found.group(1)
    for jar in sorted((home / "jars").glob("spark-core_*.jar")):
        core = _CORE_JAR.match(jar.name)
        if core:
            return core.group(1)
    raise SparkNotFoundError(f"{home}: neither a RELEASE file nor a spark-core jar tells its Spark version")


def spark_jars_dir() -> Path:
    """The ``jars`` folder of the Spark to submit with."""
    return Path(spark_home()) / "jars"


def spark_minor(full_version: str) -> str:
    """``4.2`` for ``4.2.0`` (Delta's artifacts are named by Spark's major.minor)."""
    return ".".join(full_version.split(".")[:2])
