"""One-line error reasons: a py4j error names the Java exception and its deepest cause, not only
the JVM call (``An error occurred while calling o2245.collectToPython.``)."""

from __future__ import annotations

from dataclasses import dataclass

from airflow_fanout.exceptions import first_line


@dataclass
class JavaThrowable:  # the two methods of a py4j JavaObject for a java.lang.Throwable used here
    text: str
    cause: JavaThrowable | None = None

    def toString(self) -> str:
        return self.text

    def getCause(self) -> JavaThrowable | None:
        return self.cause


class Py4JJavaError(Exception):
    def __init__(self, message: str, java_exception: JavaThrowable) -> None:
        super().__init__(message)
        self.java_exception = java_exception


def test_a_py4j_error_says_what_the_jvm_said() -> None:
    root = JavaThrowable("java.io.FileNotFoundException: s3a://lake/t/part-0.parquet\n\tat org.apache...")
    error = Py4JJavaError(
        "An error occurred while calling o2245.collectToPython.\n: org.apache.spark.SparkException: ...",
        JavaThrowable("org.apache.spark.SparkException: Job aborted due to stage failure\n\tat ...", root),
    )
    assert first_line(error) == (
        "org.apache.spark.SparkException: Job aborted due to stage failure; caused by "
        "java.io.FileNotFoundException: s3a://lake/t/part-0.parquet (in o2245.collectToPython)"
    )
    alone = Py4JJavaError(
        "An error occurred while calling o1.save.", JavaThrowable("java.lang.IllegalStateException: x")
    )
    assert first_line(alone) == "java.lang.IllegalStateException: x (in o1.save)"
    assert first_line(ValueError("plain\nsecond line")) == "plain"
    assert first_line(RuntimeError()) == "RuntimeError"
