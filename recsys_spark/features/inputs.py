"""Reading a stage's input tables at pinned versions, and shaping output to a declared schema.

Shared by the features and similarity stages.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from recsys_spark.errors import UnknownTableError
from recsys_spark.runs import StageReport
from recsys_spark.tables import PartitionFilter, TableStore

log = logging.getLogger(__name__)

# Which stage writes each input table: named in the error when the table is missing.
PRODUCED_BY = {"events": "clean", "items": "clean", "users": "clean", "promotions": "clean",
               "user_features": "features", "user_segments": "features",
               "segment_centroids": "features", "item_similarity": "similarity"}


def read_input(store: TableStore, table: str, report: StageReport, stage: str,
               optional: bool = False,
               partition_filters: Sequence[PartitionFilter] = ()) -> DataFrame | None:
    """The latest version of ``table``, pinned: the version read is recorded in ``report.inputs``;
    only the partitions matching ``partition_filters`` are read (see :func:`event_date_window`).

    Returns:
        The DataFrame, or None when ``optional`` and the table does not exist.

    Raises:
        UnknownTableError: a required table does not exist; the message names the stage to run.
    """
    if not store.exists(table):
        if optional:
            log.info("%s: optional input %s does not exist; continuing without it", stage, table)
            report.notes[f"missing_optional_input.{table}"] = "not found"
            return None
        producer = PRODUCED_BY.get(table, "the producing stage")
        raise UnknownTableError(
            f"{stage} stage: input table {table!r} does not exist under {store.root}; "
            f"run `recsys {producer}` for this run date first")
    version = store.version(table)
    report.inputs[table] = version
    return store.read(table, version=version, partition_filters=partition_filters)


def event_date_window(run_date: dt.date, days: int) -> list[PartitionFilter]:
    """Partition filters for the ``days``-day window of event_date ending at ``run_date``: the
    store prunes files from the Delta log, so a stage reads its window, not the whole history."""
    return [("event_date", ">=", run_date - dt.timedelta(days=days - 1)), ("event_date", "<=", run_date)]


def filter_event_dates(events_df: DataFrame, run_date: dt.date, days: int,
                       include_run_date: bool = True) -> DataFrame:
    """Events in the ``days``-day window ending at ``run_date`` (inclusive unless told not to).

    Row-level filter; pair it with :func:`event_date_window` on the read so that whole
    partitions are skipped before any scan.
    """
    end = run_date if include_run_date else run_date - dt.timedelta(days=1)
    start = end - dt.timedelta(days=days - 1)
    return events_df.filter((F.col("event_date") >= F.lit(start)) & (F.col("event_date") <= F.lit(end)))


def top_level(category: Column) -> Column:
    """'electronics.audio' -> 'electronics' (promotions target top-level categories)."""
    return F.substring_index(category, ".", 1)


def conform(df: DataFrame, schema: StructType) -> DataFrame:
    """``df`` with exactly the schema's columns, in order, cast to the declared types."""
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


def with_run_columns(df: DataFrame, run_id: str, run_date: dt.date) -> DataFrame:
    """Adds ``run_id`` and ``run_date``."""
    return df.withColumn("run_id", F.lit(run_id)).withColumn("run_date", F.lit(run_date))
