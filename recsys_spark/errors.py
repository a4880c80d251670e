"""Exception classes and the one exit-code table of every command and job.

Each class names what is wrong and where; the CLI prints the message as one line and exits with
the class's ``exit_code``. A scheduler reads the code:

==  =====================================================================================
0   success
1   a bug: anything this project did not raise on purpose (the traceback is kept)
2   the user's mistake: config, arguments, a missing input path, an unknown table
3   a data-quality or constraint gate stopped the publish (nothing was committed);
    an empty input day without ``--allow-empty`` is one
4   a concurrent writer won the commit (nothing was committed; safe to retry)
5   input unreadable or corrupt beyond the quarantine's reach (a table's data file or
    log missing or corrupt)
==  =====================================================================================
"""
from __future__ import annotations

import re
from typing import ClassVar

EXIT_OK = 0
EXIT_BUG = 1
EXIT_USER_ERROR = 2
EXIT_QUALITY_GATE = 3
EXIT_CONCURRENT_WRITE = 4
EXIT_INPUT_UNREADABLE = 5


class RecsysError(Exception):
    """Base class for every error this project raises on purpose (a user-facing message)."""

    exit_code: ClassVar[int] = EXIT_USER_ERROR
    label: ClassVar[str] = "error"


class ConfigError(RecsysError, ValueError):
    """The configuration (YAML files or --set overrides) is invalid."""


class TableError(RecsysError):
    """A table operation cannot be done (unknown table, bad name, escape from the warehouse)."""


class UnknownTableError(TableError, KeyError):
    """The table does not exist in the warehouse."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class SchemaMismatchError(TableError, ValueError):
    """A write's DataFrame does not match the table's schema."""


class ConcurrentWriteError(TableError):
    """Another writer committed to the same table partition while this write was in flight."""

    exit_code = EXIT_CONCURRENT_WRITE
    label = "concurrent write (nothing committed; safe to retry)"


class DataQualityError(RecsysError):
    """A data-quality gate failed; nothing was committed."""

    exit_code = EXIT_QUALITY_GATE
    label = "data-quality gate failed"


class InputUnreadableError(RecsysError):
    """Input exists but cannot be read (a corrupt or missing table file): no quarantine helps."""

    exit_code = EXIT_INPUT_UNREADABLE
    label = "input unreadable"


# Spark error conditions that mean a file of an input could not be read (corrupt, truncated or
# gone since the Delta log listed it). Raw input files never get here: the clean stage reads them
# with ignoreCorruptFiles and quarantines an unreadable file whole.
_SPARK_UNREADABLE = ("FAILED_READ_FILE", "PATH_NOT_FOUND", "CANNOT_READ_FILE_FOOTER",
                     "CANNOT_READ_FILE")
# delta-rs reports a Delta log it cannot parse, or a log file that is gone, with these texts.
_DELTA_LOG_UNREADABLE = ("Json error", "Parquet error", "Invalid JSON", "Object at location")
_CONDITION = re.compile(r"\[([A-Z][A-Z0-9_]*(?:\.[A-Z0-9_]+)*)\]")


def exit_code_for(exc: BaseException) -> int:
    """The exit code of the table above for an exception that ended a command."""
    if isinstance(exc, RecsysError):
        return exc.exit_code
    if _unreadable_detail(exc) is not None:
        return EXIT_INPUT_UNREADABLE
    return EXIT_BUG


def one_line(exc: BaseException) -> str:
    """What the CLI prints for an error that is not a bug: ``<label>: <message>``."""
    if isinstance(exc, RecsysError):
        return f"{exc.label}: {exc}"
    detail = _unreadable_detail(exc)
    return f"{InputUnreadableError.label}: {detail if detail is not None else exc}"


def _unreadable_detail(exc: BaseException) -> str | None:
    """The line saying which input could not be read, or None when ``exc`` is not about that.

    A PySpark exception carries its condition; a Py4JJavaError (how an executor's
    SparkException reaches Python) has it only in its text, as ``[CONDITION] message``.
    """
    from deltalake.exceptions import DeltaError
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    if isinstance(exc, DeltaError):
        text = str(exc).strip()
        first = text.splitlines()[0] if text else ""
        return first if any(marker in first for marker in _DELTA_LOG_UNREADABLE) else None
    if isinstance(exc, PySparkException):
        condition = exc.getCondition() or ""
        if condition.startswith(_SPARK_UNREADABLE):
            return str(exc).strip().splitlines()[0]
        return None
    if isinstance(exc, Py4JJavaError):
        for line in str(exc).splitlines():
            match = _CONDITION.search(line)
            if match and match.group(1).startswith(_SPARK_UNREADABLE):
                return line[match.start():].strip()
    return None
