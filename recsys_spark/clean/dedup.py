"""Deduplication: by event_id within the run and against what `events` already holds.

Sources without ids get a content fingerprint as event_id (see :func:`content_fingerprint`),
so a re-delivered record is a duplicate either way. Only rows that passed every rule take part:
a rejected row goes to quarantine with all its copies, so nothing disappears silently.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

IN_RUN = "in_run"
EXISTING = "existing"
_SEPARATOR = "\u001f"   # unit separator: cannot occur in a CSV field or change a field's meaning


def content_fingerprint(*columns: Column) -> Column:
    """Hex SHA-256 of the columns' text (nulls distinct from empty strings)."""
    parts = [F.coalesce(c.cast("string"), F.lit("\u0000")) for c in columns]
    return F.sha2(F.concat_ws(_SEPARATOR, *parts), 256)


def with_duplicate_flags(checked_df: DataFrame, existing_ids_df: DataFrame | None) -> DataFrame:
    """Adds ``duplicate_of``: null (first copy), ``in_run`` or ``existing``.

    Within the run the copy kept is the first by (source_file, line_number, record_seq,
    raw_record): deterministic whatever the partitioning. ``existing_ids_df`` holds the
    event_ids already in `events` within the lookback (excluding this run date's own earlier
    contribution, which the write replaces); a candidate found there is ``existing``.
    """
    is_candidate = F.size("reasons") == 0
    order = Window.partitionBy(is_candidate, F.col("event_id")).orderBy(
        "source_file", "line_number", "record_seq", "raw_record")
    ranked_df = checked_df.withColumn("_copy", F.row_number().over(order))
    if existing_ids_df is not None:
        known_df = existing_ids_df.select("event_id").distinct().withColumn("_known", F.lit(True))
        ranked_df = ranked_df.join(known_df, on="event_id", how="left")
    else:
        ranked_df = ranked_df.withColumn("_known", F.lit(None).cast("boolean"))
    duplicate_of = (F.when(~is_candidate, F.lit(None).cast("string"))
                    .when(F.col("_copy") > 1, F.lit(IN_RUN))
                    .when(F.col("_known"), F.lit(EXISTING)))
    return ranked_df.withColumn("duplicate_of", duplicate_of).drop("_copy", "_known")
