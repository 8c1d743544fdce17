"""Read the lines a driver run prints (through spark-submit), so that whoever shows them (the
Airflow hook, the CLI) knows each line's level and source.

Two formats, plus continuation lines (tracebacks, multi-line messages) that keep the level of the
line before them:

- the driver's own: ``2026-12-01 03:45:50,123 WARNING airflow_fanout.driver: batch 3 ...``
- Spark's (log4j, ``spark-log4j2.properties``): ``26/12/01 03:45:50 WARN DAGScheduler: ...``

Pure Python: no pyspark, no airflow."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

_DRIVER = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) ([\w.]+): (.*)$")
_SPARK = re.compile(r"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d (TRACE|DEBUG|INFO|WARN|ERROR|FATAL) ([\w.$-]+): (.*)$")
_SPARK_LEVELS = {
    "TRACE": logging.DEBUG,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
    "FATAL": logging.CRITICAL,
}
#: the driver's line that closes a micro-batch (``runner``): a progress line
_BATCH_DONE = re.compile(r"^batch \S+ done: ")
#: the driver's line naming its Spark application and UI (``driver.main``)
SPARK_APP = re.compile(r"^spark application (\S+), UI (\S+)$")


@dataclass(frozen=True)
class DriverLine:
    """One printed line: its level, where it comes from (``driver``, ``spark``, or ``output`` for
    a line in neither format, e.g. the report path), and the message without time stamp."""

    level: int
    source: str
    message: str
    logger: str = ""
    #: a line of a traceback or stack trace under the line before (which has the message)
    continued: bool = False

    @property
    def is_progress(self) -> bool:
        """A batch's closing line, or the run's start and end (what a quiet terminal shows)."""
        if self.source != "driver":
            return False
        return bool(_BATCH_DONE.match(self.message)) or self.message.startswith(
            ("run ", "slice ", "stream ", "spark application ")
        )


class LineReader:
    """Reads lines one at a time, remembering the last level for continuation lines."""

    def __init__(self) -> None:
        self._last: DriverLine | None = None

    def read(self, raw: str) -> DriverLine:
        line = raw.rstrip("\n")
        if match := _DRIVER.match(line):
            parsed = DriverLine(getattr(logging, match.group(1)), "driver", match.group(3), match.group(2))
        elif match := _SPARK.match(line):
            parsed = DriverLine(_SPARK_LEVELS[match.group(1)], "spark", match.group(3), match.group(2))
        elif self._last is not None and (line.startswith((" ", "\t")) or not line.strip() or _continues(line)):
            parsed = DriverLine(self._last.level, self._last.source, line, self._last.logger, continued=True)
        else:
            parsed = DriverLine(logging.INFO, "output", line)
        if parsed.source != "output":
            self._last = parsed
        return parsed


_CONTINUATION = re.compile(
    r"^(Traceback|Caused by|File \"|at [\w$.]+\(|\.\.\. \d+ more|\^+$|\w+(\.\w+)*(Error|Exception)\b)"
)


def _continues(line: str) -> bool:
    """Lines of a traceback or Java stack trace, also once stripped of their indentation (the
    apache-spark provider strips each line before logging it)."""
    return bool(_CONTINUATION.match(line))
