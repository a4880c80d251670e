"""The baselines every ranking must beat, with the same interface as the models.

- ``popularity``: the keys most users have in their history, the same list for everyone;
- ``segment_popularity``: the same within the user's `user_segments` segment;
- ``own_history``: the user's own keys by history strength (event-type weighted, recency
  decayed); for items this is repeat consumption (``repeat_items``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from recsys_spark.ranking.candidate import USER, Cut, Role, popular_keys

POPULARITY, SEGMENT_POPULARITY, OWN_HISTORY, REPEAT_ITEMS = (
    "popularity", "segment_popularity", "own_history", "repeat_items")


@dataclass
class LazyRanker:
    """A fitted ranker whose lists are a DataFrame function of the users (nothing cached)."""

    rank_fn: Callable[[DataFrame, int], DataFrame]

    def top(self, users_df: DataFrame, n: int) -> DataFrame:
        return self.rank_fn(users_df, n)

    def release(self) -> None:
        return None


@dataclass(frozen=True)
class GlobalPopularity:
    """Everyone gets the most popular keys of the cut."""

    name: str = POPULARITY
    role: Role = "baseline"

    def fit(self, cut: Cut) -> LazyRanker:
        def rank(users_df: DataFrame, n: int) -> DataFrame:
            return (users_df.select(USER)
                    .crossJoin(F.broadcast(popular_keys(cut.popularity_df, cut.key, n)))
                    .select(USER, cut.key, F.col("popularity").alias("score")))
        return LazyRanker(rank)


@dataclass(frozen=True)
class SegmentPopularity:
    """The keys most users of the user's segment have in their history (a user without a
    segment gets none: the completion fills in global popularity)."""

    name: str = SEGMENT_POPULARITY
    role: Role = "baseline"

    def fit(self, cut: Cut) -> LazyRanker:
        key = cut.key

        def rank(users_df: DataFrame, n: int) -> DataFrame:
            if cut.segments_df is None:
                return users_df.select(USER, F.lit(None).cast("string").alias(key),
                                       F.lit(0.0).alias("score")).limit(0)
            segments_df = cut.segments_df.select(USER, "segment_id")
            counts_df = (cut.history_df.join(segments_df, on=USER, how="inner")
                         .groupBy("segment_id", key).agg(F.count(F.lit(1)).cast("double").alias("score")))
            order = Window.partitionBy("segment_id").orderBy(F.desc("score"), F.asc(key))
            top_df = counts_df.withColumn("pos", F.row_number().over(order)).filter(F.col("pos") <= n)
            return (users_df.select(USER).join(segments_df, on=USER, how="inner")
                    .join(top_df, on="segment_id", how="inner").select(USER, key, "score"))
        return LazyRanker(rank)


@dataclass(frozen=True)
class OwnHistory:
    """The user's own keys, strongest history first (ties: most recent, then key)."""

    name: str = OWN_HISTORY
    role: Role = "baseline"

    def fit(self, cut: Cut) -> LazyRanker:
        key = cut.key

        def rank(users_df: DataFrame, n: int) -> DataFrame:
            order = Window.partitionBy(USER).orderBy(F.desc("strength"), F.desc("last_time"), F.asc(key))
            return (cut.history_df.join(users_df.select(USER), on=USER, how="left_semi")
                    .withColumn("pos", F.row_number().over(order)).filter(F.col("pos") <= n)
                    .select(USER, key, F.col("strength").alias("score")))
        return LazyRanker(rank)
