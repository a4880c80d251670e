"""Deduplication: by event_id within the run and against what other run dates already ingested.

Sources without ids get a content fingerprint as event_id (see :func:`content_fingerprint`),
so a re-delivered record is a duplicate either way. Only records that passed every rule take
part: a rejected record goes to quarantine with all its copies, so nothing disappears silently.

The work is done on narrow rows (the id and the record's position), not on whole records:
:func:`duplicate_marks` returns one small row per record to drop, which
:func:`with_duplicate_flags` joins back (broadcast while small). The full records are never
shuffled.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

IN_RUN = "in_run"
EXISTING = "existing"
# What identifies one record of a run: its line (row_id is unique per line) and the record
# within the line (OBD makes a click record from an impression line).
RECORD_KEY: tuple[str, ...] = ("row_id", "record_seq")
# Line order within the run: file, file split, row within the split, record within the line.
LINE_ORDER: tuple[str, ...] = ("source_file", "block_start", "row_id", "record_seq")
_SEPARATOR = "\u001f"   # unit separator: cannot occur in a CSV field or change a field's meaning


def content_fingerprint(*columns: Column) -> Column:
    """Hex SHA-256 of the columns' text (nulls distinct from empty strings)."""
    parts = [F.coalesce(c.cast("string"), F.lit("\u0000")) for c in columns]
    return F.sha2(F.concat_ws(_SEPARATOR, *parts), 256)


def duplicate_marks(candidates_df: DataFrame, existing_ids_df: DataFrame | None) -> DataFrame:
    """The candidate records to drop: ``RECORD_KEY`` columns plus ``duplicate_of``.

    Within the run the copy kept is the first in line order (deterministic whatever the
    partitioning); later copies are ``in_run``. A kept copy whose id ``existing_ids_df`` holds
    (event ids other run dates ingested within the lookback) is ``existing``.
    """
    narrow_df = candidates_df.select("event_id", *LINE_ORDER)
    if existing_ids_df is not None:
        known_df = existing_ids_df.select("event_id").distinct().withColumn("_known", F.lit(True))
        narrow_df = narrow_df.join(known_df, on="event_id", how="left")
    else:
        narrow_df = narrow_df.withColumn("_known", F.lit(None).cast("boolean"))
    copy = F.row_number().over(Window.partitionBy("event_id").orderBy(*LINE_ORDER))
    duplicate_of = F.when(F.col("_copy") > 1, F.lit(IN_RUN)).when(F.col("_known"), F.lit(EXISTING))
    return (narrow_df.withColumn("_copy", copy)
            .where((F.col("_copy") > 1) | F.coalesce(F.col("_known"), F.lit(False)))
            .select(*RECORD_KEY, duplicate_of.alias("duplicate_of")))


def with_duplicate_flags(records_df: DataFrame, marks_df: DataFrame, *, broadcast: bool = True
                         ) -> DataFrame:
    """Adds ``duplicate_of``: null (kept), ``in_run`` or ``existing`` (see duplicate_marks).

    ``broadcast``: ship the marks to every task (no shuffle of the records); off when there are
    too many marks for the driver to build a broadcast of.
    """
    marks = F.broadcast(marks_df) if broadcast else marks_df
    return records_df.join(marks, on=list(RECORD_KEY), how="left")
