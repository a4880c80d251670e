"""Fitting implicit-feedback MLlib ALS and saving the model with Spark ML persistence.

Robustness at scale: the indexed ratings are persisted (and materialised) before ``fit``
because ALS reads its input several times and needs the same rows each time; factors are
checkpointed every ``checkpoint_interval`` iterations into the session's checkpoint dir (set
by spark.py from ``spark.checkpoint_dir``) so a long lineage cannot overflow the stack; block
counts come from config. No pickle: the model is written with ``ALSModel.write().save``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame

from recsys_spark.als.id_mapping import with_id, with_index
from recsys_spark.paths import join_uri
from recsys_spark.settings.als import AlsConfig

log = logging.getLogger(__name__)

USER_IDX = "user_idx"
ITEM_IDX = "item_idx"
RATING = "rating"
MODELS_DIR = "_models/als"


@dataclass(frozen=True)
class AlsParams:
    """The hyperparameters tuning varies."""

    rank: int
    reg_param: float
    alpha: float

    @classmethod
    def from_config(cls, config: AlsConfig) -> AlsParams:
        return cls(config.rank, config.reg_param, config.alpha)

    def as_dict(self) -> dict[str, str]:
        return {"rank": str(self.rank), "reg_param": str(self.reg_param), "alpha": str(self.alpha)}


def build_estimator(config: AlsConfig, params: AlsParams, seed: int) -> ALS:
    """An implicit-preference ALS estimator over (user_idx, item_idx, rating)."""
    return ALS(rank=params.rank, maxIter=config.max_iter, regParam=params.reg_param,
               alpha=params.alpha, implicitPrefs=True, nonnegative=config.nonnegative,
               numUserBlocks=config.num_user_blocks, numItemBlocks=config.num_item_blocks,
               checkpointInterval=config.checkpoint_interval, seed=seed,
               userCol=USER_IDX, itemCol=ITEM_IDX, ratingCol=RATING, coldStartStrategy="drop")


def fit_als(ratings_idx_df: DataFrame, config: AlsConfig, params: AlsParams, seed: int) -> ALSModel:
    """Fit ALS on DataFrame[user_idx int, item_idx int, rating double].

    Returns:
        The fitted ALSModel (its factor DataFrames are cached by ALS).
    """
    input_df = ratings_idx_df.select(USER_IDX, ITEM_IDX, RATING).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        n = input_df.count()  # materialise the persisted input before ALS reads it repeatedly
        log.info("als fit: %s ratings, rank %s, regParam %s, alpha %s", n, params.rank,
                 params.reg_param, params.alpha)
        model = build_estimator(config, params, seed).fit(input_df)
        # Factors are computed lazily; touch them so the persisted input is still there.
        model.userFactors.count()
        model.itemFactors.count()
    finally:
        input_df.unpersist()
    return model


@dataclass
class Factors:
    """A fitted model and its factors keyed by string ids."""

    model: ALSModel
    user_factors_df: DataFrame   # [user_id, features]
    item_factors_df: DataFrame   # [item_id, features]


def fit_factors(ratings_df: DataFrame, user_map_df: DataFrame, item_map_df: DataFrame,
                config: AlsConfig, params: AlsParams, seed: int) -> Factors:
    """Fit ALS on string-keyed ratings; return the model and string-keyed factors."""
    indexed_df = (ratings_df.transform(with_index, user_map_df, "user_id", USER_IDX)
                  .transform(with_index, item_map_df, "item_id", ITEM_IDX))
    model = fit_als(indexed_df, config, params, seed)
    user_df = model.userFactors.withColumnRenamed("id", USER_IDX).transform(
        with_id, user_map_df, USER_IDX, "user_id").select("user_id", "features")
    item_df = model.itemFactors.withColumnRenamed("id", ITEM_IDX).transform(
        with_id, item_map_df, ITEM_IDX, "item_id").select("item_id", "features")
    return Factors(model, user_df, item_df)


def model_uri(warehouse_root: str, run_id: str) -> str:
    """Where the model of one run is saved: <warehouse>/_models/als/<run_id>."""
    return join_uri(warehouse_root, f"{MODELS_DIR}/{run_id}")


def save_model(model: ALSModel, warehouse_root: str, run_id: str) -> str:
    """Save with Spark ML persistence (overwriting a rerun of the same run). Returns the URI."""
    uri = model_uri(warehouse_root, run_id)
    model.write().overwrite().save(uri)
    return uri
