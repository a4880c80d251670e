"""Exception classes. Each names what is wrong and where; the CLI prints the message as one line."""
from __future__ import annotations


class RecsysError(Exception):
    """Base class for every error this project raises on purpose (a user-facing message)."""


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


class DataQualityError(RecsysError):
    """A data-quality gate failed; nothing was committed."""
