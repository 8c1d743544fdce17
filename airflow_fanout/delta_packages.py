"""The Delta Lake Maven coordinate and Spark confs, derived from the installed wheels.

The coordinate is never written down twice: ``io.delta:delta-spark_<spark major.minor>_2.13:<v>``
comes from the installed ``pyspark`` and ``delta-spark`` versions, exactly as delta-spark's own
``configure_spark_with_delta_pip`` derives it. Imports neither pyspark nor airflow.
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

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


def delta_maven_coordinate() -> str:
    """``io.delta:delta-spark_<spark major.minor>_2.13:<delta-spark version>`` for the installed wheels."""
    try:
        delta_version = version("delta-spark")
        spark_version = version("pyspark")
    except PackageNotFoundError as exc:  # pragma: no cover - both are hard dependencies
        raise RuntimeError(f"cannot derive the Delta Maven coordinate: {exc} is not installed") from exc
    major_minor = ".".join(spark_version.split(".")[:2])
    return f"io.delta:delta-spark_{major_minor}_{SCALA_BINARY_VERSION}:{delta_version}"


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
    """The Hadoop version of the Hadoop client jars pyspark ships (``hadoop-client-api-<v>.jar``)."""
    from importlib.util import find_spec

    spec = find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise RuntimeError("pyspark is not installed: cannot tell its Hadoop version")
    for jar in (Path(spec.origin).parent / "jars").glob("hadoop-client-api-*.jar"):
        return jar.name[len("hadoop-client-api-") : -len(".jar")]
    raise RuntimeError("no hadoop-client-api jar in pyspark's jars: cannot tell its Hadoop version")


def hadoop_aws_coordinate() -> str:
    """``org.apache.hadoop:hadoop-aws:<the Hadoop version Spark ships>``: the S3A connector must
    match the Hadoop client jars exactly."""
    return f"org.apache.hadoop:hadoop-aws:{spark_hadoop_version()}"
