"""Small text files (the spec, the run report) at a URL the driver reaches through Hadoop's
FileSystem in the spark-submit JVM (``s3a://``, ``abfss://``, ``gs://``, ``hdfs://``), with the
``spark.hadoop.*`` confs Spark was given: a driver started on a cluster (cluster deploy mode)
reads its spec from, and writes its report to, the lake without any library but Spark's.

Works before any SparkContext exists (the gateway spark-submit launched is enough)."""

from __future__ import annotations

from typing import Any


def is_url(path: str) -> bool:
    """A path Hadoop resolves remotely (a scheme other than ``file:``)."""
    return "://" in path and not path.startswith("file:")


def _file_system(url: str) -> tuple[Any, Any]:
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()  # connects to spark-submit's JVM
    jvm = SparkContext._jvm
    assert jvm is not None
    hadoop_conf = jvm.org.apache.spark.deploy.SparkHadoopUtil.get().newConfiguration(SparkConf()._jconf)
    path = jvm.org.apache.hadoop.fs.Path(url)
    return path.getFileSystem(hadoop_conf), path


def read_text(url: str) -> str:
    """The UTF-8 text at ``url``; ``FileNotFoundError`` if there is none."""
    fs, path = _file_system(url)
    if not fs.exists(path):
        raise FileNotFoundError(url)
    stream = fs.open(path)
    try:
        from pyspark import SparkContext

        jvm = SparkContext._jvm
        assert jvm is not None
        return str(jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))
    finally:
        stream.close()


def write_text(url: str, text: str) -> str:
    """Write ``text`` to ``url`` (replacing it: an object store's put is atomic); returns ``url``."""
    fs, path = _file_system(url)
    out = fs.create(path, True)
    try:
        out.write(bytearray(text.encode("utf-8")))
    finally:
        out.close()
    return url
