"""The report's view of the warehouse: every table it reads, pinned at one Delta version.

Pinning makes the report consistent (a stage committing meanwhile does not mix versions into
one page) and auditable (the header lists the versions that were read).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from pyspark.sql import DataFrame

from recsys_spark.report.model import MissingInput, ReportError
from recsys_spark.stage_io import PinnedTables
from recsys_spark.tables import TableStore
from recsys_spark.tables.model import PartitionFilter

# Every table a report section or notebook reads, in the order the header lists them.
REPORT_TABLES = ("pipeline_runs", "events", "events_quarantine", "model_metrics",
                 "bandit_arm_stats", "ab_readout", "policy_monitor", "loop_results",
                 "ope_estimates")


class Snapshot:
    """Named tables of one warehouse, each read at the version it had when this was made."""

    def __init__(self, store: TableStore, tables: Iterable[str] = REPORT_TABLES) -> None:
        self.store = store
        self.tables = PinnedTables(store, pin=tables)
        self.versions = self.tables.versions

    def has(self, table: str) -> bool:
        """True when ``table`` existed when the snapshot was taken."""
        return self.versions.get(table) is not None

    def read(self, table: str, hint: str, partition_filters: Sequence[PartitionFilter] = ()) -> DataFrame:
        """Rows of ``table`` at the pinned version.

        Raises:
            MissingInput: the table did not exist (``hint`` says how to produce it).
        """
        if not self.has(table):
            raise MissingInput(f"table {table} does not exist", hint)
        return self.tables.read(table, filters=partition_filters)

    def partition_dates(self, table: str, hint: str, column: str = "run_date",
                        partition_filters: Sequence[PartitionFilter] = ()) -> list[dt.date]:
        """Distinct values of the date partition ``column`` holding data at the pinned version,
        sorted, read from the Delta log only (no Spark job).

        Raises:
            MissingInput: the table did not exist.
        """
        if not self.has(table):
            raise MissingInput(f"table {table} does not exist", hint)
        return self.tables.partition_dates(table, column=column, filters=partition_filters)

    def latest_partition(self, table: str, at_most: dt.date, what: str, hint: str,
                         partition_filters: Sequence[PartitionFilter] = ()) -> dt.date:
        """The latest ``run_date`` partition of ``table`` on or before ``at_most``.

        Raises:
            MissingInput: no table, or no partition on or before ``at_most``.
        """
        days = self.partition_dates(table, hint, partition_filters=[
            *partition_filters, ("run_date", "<=", at_most)])
        if not days:
            raise MissingInput(f"no {what} rows on or before {at_most}", hint)
        return days[-1]


def require_runs(store: TableStore) -> None:
    """Check that the warehouse has run bookkeeping (metadata only: no Spark needed).

    Raises:
        ReportError: no `pipeline_runs` table under the warehouse root.
    """
    if not store.exists("pipeline_runs"):
        raise ReportError(f"no pipeline_runs table under {store.root}: nothing has run in this "
                          "warehouse yet (run `recsys run` first)")


def resolve_run_date(snapshot: Snapshot, requested: dt.date | None) -> dt.date:
    """The run date the report describes: ``requested``, or the latest in `pipeline_runs`.

    Raises:
        ReportError: no `pipeline_runs` table, or no run recorded for ``requested``.
    """
    root = snapshot.store.root
    if not snapshot.has("pipeline_runs"):
        require_runs(snapshot.store)
    days = snapshot.partition_dates("pipeline_runs", "recsys run")
    if not days:
        raise ReportError(f"pipeline_runs under {root} is empty: run `recsys run` first")
    if requested is None:
        return days[-1]
    if requested not in days:
        raise ReportError(f"--run-date {requested}: no pipeline run recorded for that date under "
                          f"{root} (runs there cover {days[0]}..{days[-1]})")
    return requested
