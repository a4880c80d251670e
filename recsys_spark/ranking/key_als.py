"""Implicit ALS on user x key (category) history: the collaborative signal at the category level.

The user's history strength becomes the rating log1p(strength) (confidence 1 + alpha * rating,
Hu, Koren & Volinsky 2008). Ids get ephemeral dense indices (ranking/indexing.py). A user's top
keys come from MLlib's ``recommendForUserSubset`` (blocked BLAS products, a top-n queue per user):
no users x keys rows are materialised and nothing comes back to the driver.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recsys_spark.ranking.candidate import USER, Cut, Role
from recsys_spark.ranking.indexing import assign_new_indices
from recsys_spark.ranking.lineage import materialize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyAlsParams:
    rank: int = 16
    max_iter: int = 10
    reg_param: float = 0.1
    alpha: float = 10.0
    blocks: int = 4

    def as_dict(self) -> dict[str, str]:
        return {"rank": str(self.rank), "reg_param": str(self.reg_param), "alpha": str(self.alpha)}


@dataclass
class FittedKeyAls:
    key: str
    model: ALSModel
    user_index_df: DataFrame     # [user_id, u] (materialised)
    key_index_df: DataFrame      # [<key>, k] (materialised)

    def top(self, users_df: DataFrame, n: int) -> DataFrame:
        # MLlib's blocked top-k (recommendForUserSubset): BLAS products and a bounded priority
        # queue per user in the JVM; no users x keys rows and nothing collected.
        subset_df = users_df.select(USER).join(self.user_index_df, on=USER, how="inner").select("u")
        return (self.model.recommendForUserSubset(subset_df, n)
                .join(self.user_index_df, on="u", how="inner")
                .select(USER, F.explode("recommendations").alias("r"))
                .select(USER, F.col("r.k").alias("k"), F.col("r.rating").cast("double").alias("score"))
                .join(self.key_index_df, on="k", how="inner")
                .select(USER, self.key, "score"))

    def release(self) -> None:
        self.user_index_df.unpersist()
        self.key_index_df.unpersist()


@dataclass(frozen=True)
class KeyAls:
    """Candidate: implicit ALS over the cut's user x key history."""

    name: str
    params: KeyAlsParams
    seed: int
    role: Role = "model"

    def fit(self, cut: Cut) -> FittedKeyAls:
        key, p = cut.key, self.params
        ratings_df = cut.history_df.select(USER, key, F.log1p("strength").alias("rating"))
        spark = ratings_df.sparkSession
        empty_df = spark.createDataFrame([], "id string")
        users_df, _ = assign_new_indices(spark, empty_df, ratings_df.select(F.col(USER).alias("id")), 0)
        keys_df, _ = assign_new_indices(spark, empty_df, ratings_df.select(F.col(key).alias("id")), 0)
        user_index_df = materialize(users_df.select(F.col("id").alias(USER),
                                                    F.col("idx").cast("int").alias("u")))
        key_index_df = materialize(keys_df.select(F.col("id").alias(key),
                                                  F.col("idx").cast("int").alias("k")))
        indexed_df = (ratings_df.join(user_index_df, on=USER, how="inner")
                      .join(key_index_df, on=key, how="inner")
                      .select("u", "k", "rating").persist(StorageLevel.MEMORY_AND_DISK))
        try:
            log.info("%s: ALS on user x %s ratings at %s", self.name, key, cut.end)
            model = ALS(rank=p.rank, maxIter=p.max_iter, regParam=p.reg_param, alpha=p.alpha,
                        implicitPrefs=True, userCol="u", itemCol="k", ratingCol="rating",
                        numUserBlocks=p.blocks, numItemBlocks=p.blocks, seed=self.seed,
                        coldStartStrategy="drop").fit(indexed_df)
        finally:
            indexed_df.unpersist()
        return FittedKeyAls(key, model, user_index_df, key_index_df)
