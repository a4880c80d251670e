"""Neighbours of a key as a candidate ranking: keys similar to the user's recent keys.

One co-occurrence computation per cut (ranking/similarity_model.py: capped, decayed,
SAR measures) serves every measure: the measures are cheap functions of the same pairs. For a
user, score(j) = sum over the user's ``recent`` most recent keys i of sim(i, j): the
"item-item similarity from the user's recent items" of the item blend, the category
co-occurrence signal of the category blend (the key is then the category), and the way the
published `item_similarity` lists are judged. The neighbour baselines (the most popular other
items, overall or of the item's category) go through the same aggregation.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from recsys_spark.ranking.candidate import USER, Cut, Role
from recsys_spark.ranking.lineage import materialize
from recsys_spark.ranking.measures import pair_scores, top_k
from recsys_spark.ranking.similarity_model import SimilarityResult, compute_similarity, release
from recsys_spark.settings.similarity import Measure, SimilarityConfig

ITEM = "item_id"


@dataclass
class SharedCooccurrence:
    """The co-occurrence of each cut, computed once and shared by the measures' candidates."""

    config: SimilarityConfig
    seed: int
    results: dict[str, SimilarityResult] = field(default_factory=dict)
    neighbours: dict[tuple[str, str], DataFrame] = field(default_factory=dict)

    def neighbour_lists(self, cut: Cut, measure: Measure) -> DataFrame:
        """[item_id, similar_item_id, score, support, rank] of the cut's keys (top_k per key,
        materialised, kept until :meth:`release_cut`)."""
        if (cut.name, measure) not in self.neighbours:
            if cut.name not in self.results:
                events_df = (cut.events_df if cut.key == ITEM
                             else cut.events_df.withColumn(ITEM, F.col(cut.key)))
                self.results[cut.name] = compute_similarity(
                    events_df, dataclasses.replace(self.config, measure=measure), cut.end, self.seed)
            result = self.results[cut.name]
            self.neighbours[(cut.name, measure)] = materialize(top_k(
                pair_scores(result.pairs_df, result.diag_df, measure), self.config.top_k))
        return self.neighbours[(cut.name, measure)]

    def result(self, cut: Cut) -> SimilarityResult | None:
        return self.results.get(cut.name)

    def release_cut(self, cut_name: str) -> None:
        for (name, measure), df in list(self.neighbours.items()):
            if name == cut_name:
                df.unpersist()
                del self.neighbours[(name, measure)]
        if cut_name in self.results:
            release(self.results.pop(cut_name))


def recent_keys(history_df: DataFrame, key: str, users_df: DataFrame, recent: int) -> DataFrame:
    """[user_id, <key>] the ``recent`` keys each user touched last (ties by key)."""
    order = Window.partitionBy(USER).orderBy(F.desc("last_time"), F.asc(key))
    return (history_df.join(users_df.select(USER), on=USER, how="left_semi")
            .withColumn("pos", F.row_number().over(order)).filter(F.col("pos") <= recent)
            .select(USER, key))


def user_neighbours(cut: Cut, neighbours_df: DataFrame, users_df: DataFrame, recent: int,
                    n: int) -> DataFrame:
    """[user_id, <key>, score]: the ``n`` best keys by the summed neighbour scores of the user's
    ``recent`` most recent keys."""
    key = cut.key
    scored_df = (recent_keys(cut.history_df, key, users_df, recent).withColumnRenamed(key, ITEM)
                 .join(neighbours_df.select(ITEM, "similar_item_id", "score"), on=ITEM, how="inner")
                 .groupBy(USER, F.col("similar_item_id").alias(key))
                 .agg(F.sum("score").alias("score")))
    order = Window.partitionBy(USER).orderBy(F.desc("score"), F.asc(key))
    return (scored_df.withColumn("pos", F.row_number().over(order)).filter(F.col("pos") <= n)
            .select(USER, key, "score"))


@dataclass
class FittedNeighbours:
    shared: SharedCooccurrence
    cut: Cut
    neighbours_df: DataFrame
    recent: int

    def top(self, users_df: DataFrame, n: int) -> DataFrame:
        return user_neighbours(self.cut, self.neighbours_df, users_df, self.recent, n)

    def release(self) -> None:
        self.shared.release_cut(self.cut.name)


@dataclass
class CooccurrenceNeighbours:
    """Candidate: neighbours (``measure``) of the user's ``recent`` most recent keys."""

    name: str
    shared: SharedCooccurrence
    measure: Measure
    recent: int
    role: Role = "model"

    def fit(self, cut: Cut) -> FittedNeighbours:
        return FittedNeighbours(self.shared, cut, self.shared.neighbour_lists(cut, self.measure),
                                self.recent)


@dataclass
class FittedNeighbourLists:
    """Neighbour lists computed outside the shared co-occurrence (the baselines')."""

    cut: Cut
    neighbours_df: DataFrame
    recent: int

    def top(self, users_df: DataFrame, n: int) -> DataFrame:
        return user_neighbours(self.cut, self.neighbours_df, users_df, self.recent, n)

    def release(self) -> None:
        self.neighbours_df.unpersist()


@dataclass
class PopularNeighbours:
    """Baseline neighbours of an item: the most popular other items — of the item's own category
    when ``item_cat_df`` [item_id, category] is given (``category_popularity``), else of all
    (``popularity``). Popularity = users with the item in their history at the cut."""

    name: str
    top_k: int
    recent: int
    item_cat_df: DataFrame | None = None
    role: Role = "baseline"

    def fit(self, cut: Cut) -> FittedNeighbourLists:
        key = cut.key
        popular_df = cut.popularity_df.select(F.col(key).alias("similar_item_id"),
                                              F.col("popularity").alias("score"))
        items_df = cut.popularity_df.select(F.col(key).alias(ITEM))
        if self.item_cat_df is None:
            head_df = popular_df.orderBy(F.desc("score"), F.asc("similar_item_id")).limit(self.top_k + 1)
            pairs_df = items_df.crossJoin(F.broadcast(head_df))
        else:
            cats_df = self.item_cat_df.select(ITEM, "category")
            order = Window.partitionBy("category").orderBy(F.desc("score"), F.asc("similar_item_id"))
            head_df = (popular_df.join(cats_df.withColumnRenamed(ITEM, "similar_item_id"),
                                       on="similar_item_id", how="inner")
                       .withColumn("pos", F.row_number().over(order))
                       .filter(F.col("pos") <= self.top_k + 1).drop("pos"))
            pairs_df = (items_df.join(cats_df, on=ITEM, how="inner")
                        .join(head_df, on="category", how="inner").drop("category"))
        neighbours_df = top_k(pairs_df.filter(F.col(ITEM) != F.col("similar_item_id"))
                              .withColumn("support", F.lit(None).cast("long")), self.top_k)
        return FittedNeighbourLists(cut, materialize(neighbours_df), self.recent)
