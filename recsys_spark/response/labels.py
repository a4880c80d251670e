"""Training labels: did the user respond to a logged promotion impression?

Attribution is last-touch: a response (a ``label_events`` event of the same user and
promotion) belongs to the latest impression of that (user, promotion) at or before it, if it
comes within ``window_hours``. Each impression is labelled once, so repeated exposures do not
all claim the same click. Impressions whose window has not closed by the end of the run date
are dropped (delayed feedback: their label is not known yet).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from recsys_spark.domain.events import PROMO_IMPRESSION

MICROS_PER_HOUR = 3_600 * 1_000_000

LABEL_COLUMNS = ["impression_id", "user_id", "promotion_id", "impression_time", "impression_date",
                 "position", "propensity", "label", "response_time"]


def cutoff_timestamp(run_date: dt.date) -> dt.datetime:
    """The first instant after the run date, UTC. Time-zone aware, so a Spark literal made from
    it does not depend on the driver machine's local zone."""
    return dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)


def select_impressions(events_df: DataFrame) -> DataFrame:
    """Logged impressions of known users: impression_id, user_id, promotion_id, impression_time,
    impression_date, position, propensity. Anonymous impressions cannot be attributed."""
    return (events_df
            .filter((F.col("event_type") == PROMO_IMPRESSION) & F.col("user_id").isNotNull()
                    & F.col("promotion_id").isNotNull() & F.col("event_time").isNotNull())
            .select(F.col("event_id").alias("impression_id"), "user_id", "promotion_id",
                    F.col("event_time").alias("impression_time"),
                    F.to_date("event_time").alias("impression_date"), "position", "propensity"))


def with_labels(impressions_df: DataFrame, events_df: DataFrame, label_events: Sequence[str],
                window_hours: int) -> DataFrame:
    """Add ``label`` (1 = responded within the window, else 0) and ``response_time`` (first
    attributed response, null when none).

    One window over each (user, promotion) timeline carries the latest impression forward to
    every response: linear in events, no impression x response join.
    """
    responses_df = (events_df
                    .filter(F.col("event_type").isin(list(label_events))
                            & F.col("user_id").isNotNull() & F.col("promotion_id").isNotNull()
                            & F.col("event_time").isNotNull())
                    .select("user_id", "promotion_id", F.col("event_time").alias("t"),
                            F.lit(None).cast("string").alias("impression_id"),
                            F.lit(None).cast("timestamp").alias("impression_time"),
                            F.lit(1).alias("kind")))
    touches_df = impressions_df.select("user_id", "promotion_id", F.col("impression_time").alias("t"),
                                       "impression_id", "impression_time", F.lit(0).alias("kind"))
    # At equal times the impression sorts first, so a response logged in the same instant
    # counts for it; impression_id breaks ties between simultaneous impressions.
    timeline = (Window.partitionBy("user_id", "promotion_id")
                .orderBy("t", "kind", F.col("impression_id").asc_nulls_last())
                .rowsBetween(Window.unboundedPreceding, Window.currentRow))
    attributed_df = (touches_df.unionByName(responses_df)
                     .withColumn("touch_id", F.last("impression_id", ignorenulls=True).over(timeline))
                     .withColumn("touch_time", F.last("impression_time", ignorenulls=True).over(timeline))
                     .filter((F.col("kind") == 1) & F.col("touch_id").isNotNull()
                             & (F.unix_micros("t") - F.unix_micros("touch_time")
                                <= F.lit(window_hours * MICROS_PER_HOUR)))
                     .groupBy("touch_id")
                     .agg(F.min("t").alias("response_time")))
    return (impressions_df
            .join(attributed_df, impressions_df["impression_id"] == attributed_df["touch_id"], how="left")
            .withColumn("label", F.col("response_time").isNotNull().cast("int"))
            .select(*LABEL_COLUMNS))


def filter_matured(labelled_df: DataFrame, run_date: dt.date, window_hours: int) -> DataFrame:
    """Keep impressions whose attribution window closed by the end of the run date."""
    cutoff_us = F.unix_micros(F.lit(cutoff_timestamp(run_date)).cast("timestamp"))
    return labelled_df.filter(
        F.unix_micros("impression_time") + F.lit(window_hours * MICROS_PER_HOUR) <= cutoff_us)


def build_labels(events_df: DataFrame, run_date: dt.date, label_events: Sequence[str],
                 window_hours: int, first_date: dt.date) -> DataFrame:
    """Labelled, matured impressions dated from ``first_date`` to ``run_date`` (columns
    LABEL_COLUMNS). ``events_df`` must already exclude events after the run date."""
    impressions_df = select_impressions(events_df).filter(
        F.col("impression_date").between(F.lit(first_date), F.lit(run_date)))
    return filter_matured(with_labels(impressions_df, events_df, label_events, window_hours),
                          run_date, window_hours)
