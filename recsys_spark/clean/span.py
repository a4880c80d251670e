"""The days a raw input covers, for a run over a whole file (`recsys run --input`).

A run over one file cleans it once, as of its last day, with a lookback reaching its first day.
Real logs carry a few absurd timestamps (1970, years ahead); they must not stretch the run over
decades, so the span is that of the days holding at least :data:`MIN_DAY_SHARE` of the records
whose time could be read. Records outside it are quarantined like any other too-old or future
event (too_old, future_ts), so they stay visible.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from recsys_spark.clean.reader import CleanInputError, list_input_files, read_lines
from recsys_spark.clean.stage import ADAPTERS, parse_lines
from recsys_spark.settings.clean import CleanConfig

MIN_DAY_SHARE = 0.01


def input_date_span(spark: SparkSession, source: str, path: str, config: CleanConfig
                    ) -> tuple[dt.date, dt.date]:
    """(first, last) day of the input ``path`` read with the ``source`` adapter.

    One pass over the input; the per-day counts collected are one row per day.

    Raises:
        CleanInputError: the path does not exist or no record has a readable time.
    """
    adapter = ADAPTERS[source]
    files = list_input_files(path, adapter.SUFFIXES, getattr(adapter, "EXCLUDED_FILES", ()))
    typed_df = parse_lines(read_lines(spark, files), source, config)
    per_day = {r["event_date"]: int(r["count"]) for r in
               typed_df.where(F.col("event_date").isNotNull()).groupBy("event_date").count().collect()}
    total = sum(per_day.values())
    days = sorted(day for day, n in per_day.items() if n >= MIN_DAY_SHARE * total)
    if not days:
        raise CleanInputError(f"{path}: no {source} record with a readable event time")
    return days[0], days[-1]
