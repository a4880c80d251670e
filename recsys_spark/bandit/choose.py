"""Choosing each user's promotions: policy scores, budget allocation, slots, propensities, and
the holdout's single row per user."""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from recsys_spark.bandit.constraints import ASSIGNED, REJECTED, allocate_budget, holdout_flag
from recsys_spark.bandit.policies import with_policy_scores
from recsys_spark.bandit.propensity import with_propensity
from recsys_spark.settings.bandit import BanditConfig


def choose_promotions(spark: SparkSession, candidates_df: DataFrame, users_df: DataFrame,
                      config: BanditConfig, policy: str, seed: int, holdout_seed: int,
                      run_date: dt.date) -> DataFrame:
    """The per-user promotion rows (without run_id/run_date).

    Args:
        candidates_df: from :func:`build_candidates`.
        users_df: user_id of every scored user (holdout users get their single row from here).
        seed: the run's seed (keys every draw with the run date).
        holdout_seed: the stable seed of the control group (no run date).

    Returns:
        user_id, rank, promotion_id, policy, score, expected_response, propensity,
        is_exploration, is_holdout, expected_redemptions (not in the table: the budget check's).
    """
    day = run_date.isoformat()
    users_df = users_df.select("user_id").distinct().withColumn(
        "is_holdout", holdout_flag(holdout_seed) < F.lit(config.holdout_share))
    active_df = candidates_df.join(users_df.filter(~F.col("is_holdout")).select("user_id"),
                                   on="user_id", how="inner")
    # Materialize the scored candidates once: the draws feed the allocation rounds and the
    # propensities, and recomputing the pandas UDF each time would be wasted work.
    scored_df = with_policy_scores(active_df, config, seed, day, policy).localCheckpoint(eager=True)
    alloc_df = allocate_budget(scored_df, config)
    pool_df = alloc_df.filter(F.col("status") != REJECTED)
    rank_w = Window.partitionBy("user_id").orderBy(F.col("score").desc(), F.col("promotion_id"))
    chosen_df = (alloc_df.filter(F.col("status") == ASSIGNED)
                 .withColumn("slot", F.row_number().over(rank_w).cast("int")))
    chosen_df = with_propensity(chosen_df, pool_df, config, policy, seed, day)
    picks_df = chosen_df.select(
        "user_id", F.col("slot").alias("rank"), "promotion_id", F.lit(policy).alias("policy"),
        "score", "expected_response", "propensity", "is_exploration", F.lit(False).alias("is_holdout"),
        "expected_redemptions")
    holdout_df = users_df.filter(F.col("is_holdout")).select(
        "user_id", F.lit(0).alias("rank"), F.lit(None).cast("string").alias("promotion_id"),
        F.lit(policy).alias("policy"), F.lit(None).cast("double").alias("score"),
        F.lit(None).cast("double").alias("expected_response"), F.lit(1.0).alias("propensity"),
        F.lit(False).alias("is_exploration"), F.lit(True).alias("is_holdout"),
        F.lit(None).cast("double").alias("expected_redemptions"))
    return picks_df.unionByName(holdout_df)
