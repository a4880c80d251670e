"""Implicit ALS on user x key (category) history: the collaborative signal at the category level.

The user's history strength becomes the rating log1p(strength) (confidence 1 + alpha * rating,
Hu, Koren & Volinsky 2008). Ids get ephemeral dense indices (ranking/indexing.py). Scoring is
every key for every user, so this is for small key sets only (categories: hundreds to a few
thousand): the key factors are collected once (keys x rank floats) and each Arrow batch of users
is one numpy matrix product and a partial sort — no users x keys rows ever exist in Spark.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark import StorageLevel
from pyspark.ml.recommendation import ALS
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recsys_spark.ranking.candidate import USER, Cut, Role
from recsys_spark.ranking.indexing import assign_new_indices

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


_CHUNK_USERS = 512  # users scored per numpy product: bounds the (users x keys) matrix in memory


def top_keys_scorer(key_ids: np.ndarray, key_factors: np.ndarray, n: int, key: str):
    """A ``mapInPandas`` function: rows (user_id, uf) -> (user_id, <key>, score), the ``n`` best
    keys per user by uf . key factor (score descending, then key)."""
    order = np.argsort(key_ids.astype(str), kind="stable")   # columns in key order: ties by key
    sorted_ids, sorted_factors = key_ids[order], key_factors[order]
    take = min(n, len(sorted_ids))

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            if pdf.empty or take == 0:
                continue
            users = np.stack([np.asarray(u, dtype=np.float64) for u in pdf["uf"]])
            for start in range(0, len(users), _CHUNK_USERS):
                values = users[start:start + _CHUNK_USERS] @ sorted_factors.T   # (chunk, keys)
                # a stable sort of -score keeps key order among equal scores
                best = np.argsort(-values, axis=1, kind="stable")[:, :take]
                rows = np.arange(len(best))[:, None]
                yield pd.DataFrame({
                    USER: np.repeat(pdf[USER].to_numpy()[start:start + _CHUNK_USERS], take),
                    key: sorted_ids[best].ravel(),
                    "score": values[rows, best].ravel().astype(np.float64)})
    return score


@dataclass
class FittedKeyAls:
    key: str
    user_factors_df: DataFrame     # [user_id, uf]
    key_ids: np.ndarray
    key_factors: np.ndarray

    def top(self, users_df: DataFrame, n: int) -> DataFrame:
        schema = f"{USER} string, {self.key} string, score double"
        return (users_df.select(USER).join(self.user_factors_df, on=USER, how="inner")
                .mapInPandas(top_keys_scorer(self.key_ids, self.key_factors, n, self.key), schema))

    def release(self) -> None:
        self.user_factors_df.unpersist()


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
        users_df = users_df.select(F.col("id").alias(USER), F.col("idx").cast("int").alias("u"))
        keys_df = keys_df.select(F.col("id").alias(key), F.col("idx").cast("int").alias("k"))
        indexed_df = (ratings_df.join(users_df, on=USER, how="inner").join(keys_df, on=key, how="inner")
                      .select("u", "k", "rating").persist(StorageLevel.MEMORY_AND_DISK))
        try:
            rows = indexed_df.count()
            log.info("%s: ALS on %s user x %s ratings at %s", self.name, rows, key, cut.end)
            model = ALS(rank=p.rank, maxIter=p.max_iter, regParam=p.reg_param, alpha=p.alpha,
                        implicitPrefs=True, userCol="u", itemCol="k", ratingCol="rating",
                        numUserBlocks=p.blocks, numItemBlocks=p.blocks, seed=self.seed,
                        coldStartStrategy="drop").fit(indexed_df)
            key_rows = (model.itemFactors.withColumnRenamed("id", "k").join(keys_df, on="k", how="inner")
                        .select(key, "features").collect())  # one row per key: keys x rank floats
            user_factors_df = (model.userFactors.withColumnRenamed("id", "u")
                               .join(users_df, on="u", how="inner")
                               .select(USER, F.col("features").alias("uf"))
                               .persist(StorageLevel.MEMORY_AND_DISK))
            user_factors_df.count()
        finally:
            indexed_df.unpersist()
        key_ids = np.array([r[key] for r in key_rows], dtype=object)
        factors = np.array([r["features"] for r in key_rows], dtype=np.float64).reshape(len(key_rows), p.rank)
        return FittedKeyAls(key, user_factors_df, key_ids, factors)
