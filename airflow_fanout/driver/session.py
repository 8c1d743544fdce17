"""The driver's SparkSession. Delta's jars come from spark-submit (``--packages`` or ``--jars``);
the SQL extension and catalog are set here too so a plain ``spark-submit main.py`` works."""

from __future__ import annotations

import os

from pyspark import SparkConf
from pyspark.sql import SparkSession

from airflow_fanout.delta_packages import DELTA_SQL_CONFS
from airflow_fanout.exceptions import RunError

#: Spark masks matching conf values (``spark.redaction.regex``) and data source options
#: (``spark.sql.redaction.options.regex``) in plans, the UI and event logs; these widen Spark's
#: defaults to the keys ``airflow_fanout.spec.secrets`` treats as credentials. A user's own
#: setting wins.
_CREDENTIAL_KEYS = "secret|password|passwd|token|access[.]?key|account[.]?key|jaas|credential"
REDACTION_CONFS = {
    "spark.redaction.regex": f"(?i){_CREDENTIAL_KEYS}",
    "spark.sql.redaction.options.regex": f"(?i)url|{_CREDENTIAL_KEYS}",
}


def build_session(app_name: str) -> SparkSession:
    builder = SparkSession.builder.appName(app_name)
    for key, value in DELTA_SQL_CONFS.items():
        builder = builder.config(key, value)
    submitted = SparkConf()  # what spark-submit passed (JVM system properties)
    for key, value in REDACTION_CONFS.items():
        if not submitted.contains(key):
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    # Spark's INFO lines (a JSON progress report per micro-batch) drown the driver's own lines.
    # The level the run was submitted with (airflow_fanout.submit) wins over the environment's.
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    submitted_level = jvm.java.lang.System.getProperty("fanout.spark.log.level")
    spark.sparkContext.setLogLevel(str(submitted_level or os.environ.get("FANOUT_SPARK_LOG_LEVEL", "WARN")))
    require_delta(spark)
    return spark


def require_delta(spark: SparkSession) -> None:
    """Fail clearly when Delta's classes are not on the driver's classpath."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    # Resolve through the thread's context class loader: spark-submit puts --jars/--packages on
    # that loader, not on the system one that a bare Class.forName(name) would use.
    loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
    try:
        jvm.java.lang.Class.forName("io.delta.tables.DeltaTable", False, loader)
    except Exception as exc:
        raise RunError(
            "Delta Lake is not on the Spark classpath: submit with "
            "--packages io.delta:delta-spark_<spark major.minor>_2.13:<delta version> "
            "(airflow-fanout run adds it for you)"
        ) from exc
