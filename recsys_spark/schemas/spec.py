"""TableSpec: one table's contract (schema, partitioning, keys, meaning), declared once."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pyspark.sql.types import StructField, StructType


@dataclass(frozen=True)
class TableSpec:
    """A table's contract. ``docs/tables.md`` is generated from these."""

    name: str
    schema: StructType
    description: str
    partition_by: Sequence[str] = ()
    keys: Sequence[str] = ()
    written_by: str = ""
    example_queries: Mapping[str, str] = field(default_factory=dict)
    # Delta table properties set when the table is created (both backends), e.g. Change Data
    # Feed: {CHANGE_DATA_FEED: "true"}.
    table_properties: Mapping[str, str] = field(default_factory=dict)

    def column_doc(self, column: str) -> str:
        return str(self.schema[column].metadata.get("comment", ""))


# Delta's table property that records row-level changes for `table_changes` / readChangeFeed.
CHANGE_DATA_FEED = "delta.enableChangeDataFeed"


def col(name: str, data_type, comment: str, nullable: bool = True) -> StructField:
    """A StructField carrying its meaning in metadata (shown in docs/tables.md)."""
    return StructField(name, data_type, nullable, metadata={"comment": comment})
