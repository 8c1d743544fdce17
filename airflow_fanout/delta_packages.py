"""The Delta Lake Maven coordinate and Spark confs, derived from the Spark that runs the job.

The coordinate is never written down twice: ``io.delta:delta-spark_<spark major.minor>_2.13:<v>``
takes Spark's version from ``$SPARK_HOME`` or the installed ``pyspark`` wheel
(``spark_install.spark_version``) and Delta's from the installed ``delta-spark`` wheel, exactly as
delta-spark's own ``configure_spark_with_delta_pip`` derives it. Without the delta-spark wheel (an
Airflow worker submitting to a Spark elsewhere) Delta's version is ``$FANOUT_DELTA_VERSION``, else
the release this version of airflow-fanout is tested with. Imports neither pyspark nor airflow.
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from airflow_fanout.spark_install import SparkNotFoundError, spark_jars_dir, spark_minor, spark_version

SCALA_BINARY_VERSION = "2.13"
DELTA_SQL_CONFS: dict[str, str] = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
#: A folder of already-resolved jars (``make jars`` fills it); when set and non-empty the jars
#: are passed with ``spark.jars`` and nothing is downloaded at run time.
JARS_DIR_ENV = "FANOUT_DELTA_JARS_DIR"
#: Ivy home used for ``spark.jars.packages`` resolution (``spark.jars.ivy``).
IVY_DIR_ENV = "FANOUT_IVY_DIR"
#: A folder of resolved Hadoop S3A jars (``hadoop-aws`` and the AWS SDK modules it uses;
#: ``airflow-fanout fetch-jars`` fills ``<ivy>/s3a/jars``), added to runs that touch ``s3a://``.
S3A_JARS_DIR_ENV = "FANOUT_S3A_JARS_DIR"
#: The AWS SDK v2 modules S3A calls (its ``bundle``, 686 MB shaded, holds these and ~400 more
#: services); resolved at the version hadoop-aws names for its bundle.
S3A_SDK_MODULES = ("s3", "s3-transfer-manager", "sts", "apache-client")
#: Delta's release when no ``delta-spark`` wheel is installed here (``FANOUT_DELTA_VERSION`` wins)
DELTA_VERSION_ENV = "FANOUT_DELTA_VERSION"
#: The Delta release used per Spark minor when the delta-spark wheel is absent: the one the
#: tests run (delta-spark 4.4.0 is published for Spark 4.0, 4.1 and 4.2 on Maven Central;
#: delta-spark 4.4.1 on PyPI has no Maven artifact, see pyproject.toml).
DELTA_FOR_SPARK = {"4.0": "4.4.0", "4.1": "4.4.0", "4.2": "4.4.0"}


def delta_version(spark: str) -> str:
    """Delta's version for Spark ``spark`` (major.minor): ``$FANOUT_DELTA_VERSION``, else the
    installed delta-spark wheel's, else ``DELTA_FOR_SPARK``."""
    if os.environ.get(DELTA_VERSION_ENV):
        return os.environ[DELTA_VERSION_ENV]
    try:
        return version("delta-spark")
    except PackageNotFoundError:
        pass
    if spark not in DELTA_FOR_SPARK:
        raise SparkNotFoundError(
            f"no Delta release is known for Spark {spark} (known: {', '.join(DELTA_FOR_SPARK)}): set "
            f"{DELTA_VERSION_ENV} to a delta-spark version published for it, or install `airflow-fanout[spark]`"
        )
    return DELTA_FOR_SPARK[spark]


def delta_maven_coordinate() -> str:
    """``io.delta:delta-spark_<spark major.minor>_2.13:<delta version>`` for the Spark that runs the job."""
    spark = spark_minor(spark_version())
    return f"io.delta:delta-spark_{spark}_{SCALA_BINARY_VERSION}:{delta_version(spark)}"


def local_delta_jars(jars_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """The resolved jar files in ``jars_dir`` (or ``$FANOUT_DELTA_JARS_DIR``), sorted; [] if none."""
    folder = jars_dir if jars_dir is not None else os.environ.get(JARS_DIR_ENV)
    if not folder:
        return []
    path = Path(folder)
    if not path.is_dir():
        return []
    return sorted(str(p.resolve()) for p in path.glob("*.jar"))


def delta_spark_confs(
    *, jars_dir: str | os.PathLike[str] | None = None, ivy_dir: str | None = None, s3a: bool = False
) -> dict[str, str]:
    """Spark confs that make Delta Lake available: its SQL extension and catalog, plus either
    the local resolved jars (``spark.jars``) or the Maven coordinate (``spark.jars.packages``).
    ``s3a``: the Hadoop S3A connector too (local jars from ``$FANOUT_S3A_JARS_DIR``, else
    ``hadoop-aws`` matching Spark's Hadoop, which brings the AWS SDK bundle)."""
    confs = dict(DELTA_SQL_CONFS)
    jars, packages = local_delta_jars(jars_dir), []
    if not jars:
        packages.append(delta_maven_coordinate())
    if s3a:
        s3a_jars = local_delta_jars(os.environ.get(S3A_JARS_DIR_ENV) or "")
        jars += s3a_jars
        if not s3a_jars:
            packages.append(hadoop_aws_coordinate())
    if jars:
        confs["spark.jars"] = ",".join(jars)
    if packages:
        confs["spark.jars.packages"] = ",".join(packages)
        ivy = ivy_dir if ivy_dir is not None else os.environ.get(IVY_DIR_ENV)
        if ivy:
            confs["spark.jars.ivy"] = ivy
    return confs


def spark_hadoop_version() -> str:
    """The Hadoop version of the Hadoop client jars Spark ships (``hadoop-client-api-<v>.jar``)."""
    jars = spark_jars_dir()
    for jar in jars.glob("hadoop-client-api-*.jar"):
        return jar.name[len("hadoop-client-api-") : -len(".jar")]
    raise SparkNotFoundError(f"no hadoop-client-api jar in {jars}: cannot tell Spark's Hadoop version")


def delta_python_jar(jars: list[str]) -> str | None:
    """The delta-spark jar among ``jars`` when Delta's Python API (``delta``) is not installed
    here: the jar carries it, and a Python driver imports it from ``--py-files`` (Spark adds a
    ``--packages`` jar itself, a ``spark.jars`` one it does not)."""
    from importlib.util import find_spec

    if find_spec("delta") is not None:
        return None
    return next((jar for jar in jars if Path(jar).name.startswith("io.delta_delta-spark_")), None)


def hadoop_aws_coordinate() -> str:
    """``org.apache.hadoop:hadoop-aws:<the Hadoop version Spark ships>``: the S3A connector must
    match the Hadoop client jars exactly."""
    return f"org.apache.hadoop:hadoop-aws:{spark_hadoop_version()}"
