"""Implicit-feedback ratings from events: event-type weights, recency decay, log scaling.

MLlib's implicit ALS turns a rating r into a confidence ``1 + alpha * r`` and a preference
``r > 0``. The rating built here is ``log1p(sum(weight * 0.5 ** (age_days / half_life)) / eps)``
per (user, item) (Hu, Koren & Volinsky 2008), or the plain weighted sum without log scaling.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from recsys_spark.settings.als import AlsConfig

SECONDS_PER_DAY = 86_400.0


def filter_item_interactions(events_df: DataFrame, config: AlsConfig) -> DataFrame:
    """Events of a known user on an item whose type has a weight > 0."""
    return events_df.filter(F.col("user_id").isNotNull() & F.col("item_id").isNotNull()
                            & F.col("event_type").isin(config.weighted_event_types()))


def event_weight(config: AlsConfig) -> Column:
    """The configured weight of ``event_type`` (0 for types not configured)."""
    pairs = [item for name in sorted(config.event_weights)
             for item in (F.lit(name), F.lit(float(config.event_weights[name])))]
    return F.coalesce(F.create_map(*pairs)[F.col("event_type")], F.lit(0.0))


def recency_decay(config: AlsConfig, as_of: dt.datetime) -> Column:
    """0.5 ** (age in days / half-life), age measured to ``as_of`` and never negative."""
    if config.recency_half_life_days is None:
        return F.lit(1.0)
    age_s = F.lit(as_of.timestamp()) - F.unix_micros(F.col("event_time")) / F.lit(1e6)
    age_days = F.greatest(age_s / F.lit(SECONDS_PER_DAY), F.lit(0.0))
    return F.pow(F.lit(0.5), age_days / F.lit(float(config.recency_half_life_days)))


def end_of_day(run_date: dt.date) -> dt.datetime:
    """Midnight UTC after ``run_date``: the moment ages are measured to."""
    return dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)


def build_ratings(events_df: DataFrame, config: AlsConfig, as_of: dt.datetime) -> DataFrame:
    """One rating per (user_id, item_id) from the given events (already windowed).

    Returns:
        DataFrame[user_id string, item_id string, rating double], rating > 0.
    """
    strength = F.sum(event_weight(config) * recency_decay(config, as_of))
    rated_df = (events_df.transform(filter_item_interactions, config)
                .groupBy("user_id", "item_id").agg(strength.alias("strength"))
                .filter(F.col("strength") > 0))
    if config.log_scaling:
        rating = F.log1p(F.col("strength") / F.lit(config.log_epsilon))
    else:
        rating = F.col("strength")
    return rated_df.select("user_id", "item_id", rating.cast("double").alias("rating"))
