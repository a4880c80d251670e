"""Value objects shared by the table store and its two backends."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

WriteMode = Literal["append", "overwrite"]

# (partition column, operator, value), e.g. ("event_date", ">=", date(2026, 11, 1));
# operators: =, !=, <, <=, >, >=, in (value a list).
PartitionFilter = tuple[str, str, Any]


@dataclass(frozen=True)
class TxnId:
    """A Delta application transaction id (``txn`` action) that makes a write idempotent.

    ``app_id`` names what is written (table + stage + partition key); ``version`` grows with
    each attempt of that write. A write whose version the table already holds is skipped, and a
    write that sees another writer commit the same ``app_id`` meanwhile fails.
    """

    app_id: str
    version: int


@dataclass(frozen=True)
class CommitInfo:
    """What every commit records in its metadata (visible in ``history``)."""

    run_id: str
    stage: str
    extra: Mapping[str, str] = field(default_factory=dict)

    def as_metadata(self) -> dict[str, str]:
        return {"run_id": self.run_id, "stage": self.stage, **dict(self.extra)}


@dataclass(frozen=True)
class WriteRequest:
    """One write of a DataFrame to a named table."""

    table: str
    mode: WriteMode
    commit: CommitInfo
    partition_by: Sequence[str] = ()
    # With mode="overwrite": replace only these partitions, e.g. {"event_date": ["2024-01-01"]}.
    replace_partitions: Mapping[str, Sequence[str]] | None = None
    txn: TxnId | None = None
    # Schema evolution is explicit: only new nullable columns, only when asked.
    allow_new_columns: bool = False
    # Delta table properties set when this write creates the table, e.g.
    # {"delta.enableChangeDataFeed": "true"}; ignored for an existing table.
    table_properties: Mapping[str, str] | None = None


@dataclass(frozen=True)
class WriteResult:
    """What a write did."""

    table: str
    version: int
    files_added: int
    rows_written: int
    skipped: bool = False  # the transaction id was already committed: nothing written


@dataclass(frozen=True)
class HistoryEntry:
    """One commit of a table."""

    version: int
    timestamp_ms: int
    operation: str
    run_id: str | None
    stage: str | None
    metadata: Mapping[str, str]
