"""TableSpec: one table's contract (schema, partitioning, keys, meaning), declared once."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pyspark.sql.types import StructField, StructType

# How a stage's write replaces what the table held (stage_io.write_output):
# run_partitions: the partitions of this run (run_date, stage from the run; others given by the
#   stage), so a rerun replaces exactly its own rows; snapshot: the whole table (latest state of a
#   dimension); append: adds rows (run bookkeeping, id maps).
WriteMode = Literal["run_partitions", "snapshot", "append"]


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
    write_mode: WriteMode = "run_partitions"

    def __post_init__(self) -> None:
        if self.write_mode == "run_partitions" and not self.partition_by:
            raise ValueError(f"table {self.name}: run_partitions needs partition_by")
        for column in self.partition_by:
            if column not in self.schema.fieldNames():
                raise ValueError(f"table {self.name}: partition column {column} is not in the schema")

    def column_doc(self, column: str) -> str:
        return str(self.schema[column].metadata.get("comment", ""))


# Delta's table property that records row-level changes for `table_changes` / readChangeFeed.
CHANGE_DATA_FEED = "delta.enableChangeDataFeed"


def col(name: str, data_type, comment: str, nullable: bool = True) -> StructField:
    """A StructField carrying its meaning in metadata (shown in docs/tables.md)."""
    return StructField(name, data_type, nullable, metadata={"comment": comment})
