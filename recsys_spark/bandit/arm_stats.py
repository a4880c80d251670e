"""Arm statistics recomputed from `events` every run (no mutable counters).

An impression is rewarded when the configured reward event (promo_redeem or promo_click) of the
same user and promotion follows it within the attribution window; a reward is credited to the
latest impression before it (last touch), so one redemption never counts twice. Because the
statistics are rebuilt from the event log each run, late rewards count as soon as they arrive
and nothing drifts between runs.

Each impression has weight ``2^(-age_days / half_life_days)`` (age measured to the end of the
run date, UTC); only impressions with event_date in (run_date - window_days, run_date] count.
Decayed sums are rounded to 1e-9 so that floating-point summation order (which depends on
partitioning) cannot change the table.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from recsys_spark.domain.events import PROMO_IMPRESSION
from recsys_spark.settings.bandit import BanditConfig

GLOBAL_CONTEXT = "global"


def window_bounds(run_date: dt.date, config: BanditConfig) -> tuple[dt.date, dt.date]:
    """(first, last) event_date counted by the arm statistics."""
    return run_date - dt.timedelta(days=config.window_days - 1), run_date


def rewarded_impressions(events_df: DataFrame, run_date: dt.date, config: BanditConfig) -> DataFrame:
    """Impressions in the window with their decay weight and 0/1 reward.

    Returns:
        user_id, promotion_id, event_id, event_time, weight (double), reward (int 0/1).
    """
    start, end = window_bounds(run_date, config)
    run_end = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time(), dt.timezone.utc)
    known_df = events_df.filter(F.col("user_id").isNotNull() & F.col("promotion_id").isNotNull()
                                & (F.col("event_date") <= F.lit(end)))
    imp_df = (known_df.filter((F.col("event_type") == PROMO_IMPRESSION)
                              & (F.col("event_date") >= F.lit(start)))
              .select("user_id", "promotion_id", "event_id", "event_time"))
    rew_df = (known_df.filter((F.col("event_type") == config.reward_event)
                              & (F.col("event_date") >= F.lit(start)))
              .select("user_id", "promotion_id", F.col("event_id").alias("reward_event_id"),
                      F.col("event_time").alias("reward_time")))
    credited_df = credited_impressions(imp_df, rew_df, config.attribution_window_hours)
    age_days = ((F.lit(int(run_end.timestamp()) * 1_000_000) - F.unix_micros("event_time"))
                / F.lit(86_400_000_000.0))
    return (imp_df.join(credited_df, on="event_id", how="left")
            .select("user_id", "promotion_id", "event_id", "event_time",
                    F.pow(F.lit(2.0), -age_days / F.lit(config.half_life_days)).alias("weight"),
                    F.coalesce(F.col("reward"), F.lit(0)).alias("reward")))


def context_counts(rewarded_df: DataFrame, segments_df: DataFrame | None) -> DataFrame:
    """Decayed impressions and rewards per (context, promotion): each user's segment and 'global'.

    Returns:
        context, promotion_id, impressions, rewards (double, rounded to 1e-9), raw_impressions,
        raw_rewards (long).
    """
    def agg(df: DataFrame) -> DataFrame:
        return (df.groupBy("context", "promotion_id")
                .agg(F.round(F.sum("weight"), 9).alias("impressions"),
                     F.round(F.sum(F.col("weight") * F.col("reward")), 9).alias("rewards"),
                     F.count(F.lit(1)).alias("raw_impressions"),
                     F.sum("reward").cast("long").alias("raw_rewards")))

    global_df = agg(rewarded_df.withColumn("context", F.lit(GLOBAL_CONTEXT)))
    if segments_df is None:
        return global_df
    seg_df = agg(rewarded_df.join(segments_df.select("user_id", F.col("segment_id").alias("context")),
                                  on="user_id", how="inner"))
    return global_df.unionByName(seg_df)


def credited_impressions(imp_df: DataFrame, rew_df: DataFrame, window_hours: int) -> DataFrame:
    """Impressions credited with a reward (last touch within ``window_hours`` before the reward).

    Args:
        imp_df: user_id, promotion_id, event_id, event_time.
        rew_df: user_id, promotion_id, reward_event_id, reward_time.

    Returns:
        event_id (of the impression), reward (= 1), one row per credited impression.
    """
    window_us = window_hours * 3600 * 1_000_000
    # Equi-join on (user, promotion) plus a time range: only pairs of the same user and promotion.
    pairs_df = imp_df.alias("i").join(
        rew_df.alias("r"),
        on=[F.col("i.user_id") == F.col("r.user_id"),
            F.col("i.promotion_id") == F.col("r.promotion_id"),
            F.col("r.reward_time") >= F.col("i.event_time"),
            F.unix_micros(F.col("r.reward_time")) <= F.unix_micros(F.col("i.event_time"))
            + F.lit(window_us)],
        how="inner")
    last_touch = Window.partitionBy("r.reward_event_id").orderBy(F.col("i.event_time").desc(),
                                                                 F.col("i.event_id").desc())
    return (pairs_df.withColumn("_touch", F.row_number().over(last_touch))
            .filter(F.col("_touch") == 1)
            .select(F.col("i.event_id").alias("event_id")).distinct()
            .withColumn("reward", F.lit(1)))
