"""A second writer that commits to a stage's input while the stage runs, for the tests that every
stage records, and computes from, the input versions it read (stage_io.Inputs pins them)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from recsys_spark.schemas import ALL_TABLES
from recsys_spark.settings.core import WarehouseConfig
from recsys_spark.tables import CommitInfo, TableStore, WriteResult
from tests.factories import frame

OTHER_WRITER = CommitInfo(run_id="other-writer", stage="test")


class CommitsBeforeTheFirstWrite(TableStore):
    """A real TableStore whose first write (after :meth:`arm`) is preceded by another writer's
    commit of ``rows`` to ``table``: the stage has read its inputs by then (lazily: its
    DataFrames are computed during its writes, so an unpinned read would see the new rows)."""

    def __init__(self, spark: SparkSession, warehouse: WarehouseConfig) -> None:
        super().__init__(spark, warehouse)
        self.pending: tuple[str, list[Mapping[str, Any]], str] | None = None
        self.late_version: int | None = None

    def arm(self, table: str, rows: Sequence[Mapping[str, Any]], mode: str = "append") -> None:
        """Commit ``rows`` to ``table`` (``mode`` append or overwrite) just before the next write."""
        self.pending = (table, list(rows), mode)

    def write(self, df: DataFrame, table: str, *args: Any, **kwargs: Any) -> WriteResult:
        if self.pending is not None:
            late_table, rows, mode = self.pending
            self.pending = None
            late_df = frame(self.spark, late_table, rows)
            self.late_version = super().write(
                late_df, late_table, mode, OTHER_WRITER,
                partition_by=list(ALL_TABLES[late_table].partition_by)).version
        return super().write(df, table, *args, **kwargs)

