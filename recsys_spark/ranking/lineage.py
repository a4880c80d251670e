"""Materialise an intermediate result with a short plan: the lineage cut every ranking needs.

A ranking builds DataFrames on DataFrames many levels deep: events -> a cut's history -> each
candidate's list -> the blend's features -> the lists judged together. With ``persist`` every
plan still carries the whole plan of each persisted input (an in-memory relation prints and
optimises its cached plan as a child), and Spark prints the physical plan of every job for its
SQL listener: on the tiny world one window's judging plan grew large enough for that string
alone to exhaust a 2 GB driver ("Not enough memory to build and broadcast the table" /
"Java heap space" inside ``explainString``), and planning such trees made the features stage
take minutes. A local checkpoint stores the rows once and replaces the plan by a scan of them.
"""
from __future__ import annotations

from pyspark import StorageLevel
from pyspark.sql import DataFrame


def materialize(df: DataFrame) -> DataFrame:
    """``df`` computed now (one job) and returned as a scan of its stored rows.

    The rows live in the block managers (memory, spilling to disk) like a persisted DataFrame,
    and are freed when the returned DataFrame is garbage collected (Spark's context cleaner);
    they are intermediate results of one stage, not data to recover after an executor loss.
    """
    stored_df = df.localCheckpoint(eager=True, storageLevel=StorageLevel.MEMORY_AND_DISK)
    # Fresh column ids: the checkpoint keeps its input's attribute ids, and joining it with
    # another DataFrame derived from the same input (a window's truth and the cut's history,
    # both from the events) fails to resolve ("conflicting attributes" INTERNAL_ERROR).
    return stored_df.select(*[stored_df[name].alias(name) for name in stored_df.columns])
