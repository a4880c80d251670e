"""A user's own history as of a cut: event-type weighted, recency-decayed strength per key.

strength(u, key) = sum over u's events on key of weight(event_type) * 0.5 ** (age / half_life),
age in days from the end of the cut's last day. The key is an item, or an item's category (the
``category`` of the event, or its top level). Used by the own-history baseline, as the input of
the collaborative candidates and for popularity.
"""
from __future__ import annotations

import datetime as dt
from typing import Literal

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from recsys_spark.domain.events import top_level
from recsys_spark.settings.ranking import RankingConfig

USER = "user_id"
CategoryLevel = Literal["full", "top"]


def category_key(level: CategoryLevel) -> Column:
    """The category key of an event: as recorded ("full", e.g. "a.b.c") or its top level."""
    return top_level(F.col("category")) if level == "top" else F.col("category")


def end_of(day: dt.date) -> dt.datetime:
    """Midnight UTC after ``day``: ages are measured to it."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)


def history_weight(cfg: RankingConfig, as_of: dt.date) -> Column:
    """weight(event_type) * 0.5 ** (age_days / half-life) of an event (0 for unweighted types)."""
    pairs = [x for name in sorted(cfg.history_weights)
             for x in (F.lit(name), F.lit(float(cfg.history_weights[name])))]
    weight = F.coalesce(F.create_map(*pairs)[F.col("event_type")], F.lit(0.0))
    age_days = F.greatest((F.lit(end_of(as_of).timestamp()) - F.unix_micros("event_time") / 1e6)
                          / 86_400.0, F.lit(0.0))
    return weight * F.pow(F.lit(0.5), age_days / F.lit(cfg.history_half_life_days))


def keyed_events(events_df: DataFrame, key: str, key_col: Column, cfg: RankingConfig) -> DataFrame:
    """Item events with a weighted type and a key, the key in column ``key`` (users may be null:
    anonymous sessions still feed co-occurrence)."""
    return (events_df.filter(F.col("event_type").isin(cfg.weighted_event_types()))
                     .withColumn(key, key_col).filter(F.col(key).isNotNull()))


def user_history(keyed_df: DataFrame, key: str, cfg: RankingConfig, as_of: dt.date) -> DataFrame:
    """[user_id, <key>, strength, last_time] of known users' keyed events (strength > 0)."""
    return (keyed_df.filter(F.col(USER).isNotNull())
            .groupBy(USER, key).agg(F.sum(history_weight(cfg, as_of)).alias("strength"),
                                    F.max("event_time").alias("last_time"))
            .filter(F.col("strength") > 0))


def key_popularity(history_df: DataFrame, key: str) -> DataFrame:
    """[<key>, popularity]: how many users have the key in their history."""
    return history_df.groupBy(key).agg(F.count(F.lit(1)).cast("double").alias("popularity"))


def relevant_keys(window_events_df: DataFrame, key: str, key_col: Column,
                  relevant_types: tuple[str, ...]) -> DataFrame:
    """[user_id, <key>]: what each known user engaged with (a relevant event type) in a window."""
    return (window_events_df.filter(F.col(USER).isNotNull()
                                    & F.col("event_type").isin(list(relevant_types)))
            .select(USER, key_col.alias(key)).filter(F.col(key).isNotNull()).distinct())
