"""The (user, promotion) candidates of a run: each scored pair of a servable promotion, with its
context's posterior, the user's lift, the frequency cap applied and P(visit) for the budget."""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recsys_spark.bandit.arm_stats import GLOBAL_CONTEXT
from recsys_spark.bandit.constraints import filter_frequency_capped
from recsys_spark.bandit.policies import with_lift
from recsys_spark.settings.bandit import BanditConfig


def build_candidates(scores_df: DataFrame, segments_df: DataFrame | None, arms_df: DataFrame,
                     eligible_df: DataFrame, events_df: DataFrame, visits_df: DataFrame,
                     run_date: dt.date, config: BanditConfig) -> DataFrame:
    """One row per (user, eligible promotion) with the context's posterior and the user's lift.

    Args:
        visits_df: user_id, p_visit (constraints.visit_probabilities); a user missing there
            counts as visiting (p_visit 1).

    Returns:
        user_id, promotion_id, promo_type, remaining_budget, p_response, context, alpha, beta,
        posterior_mean, segment_mean_p, context_pseudo_count, lift, expected_response, p_visit,
        expected_redemptions (= expected_response x p_visit, what the budget counts).
    """
    pseudo_df = arms_df.groupBy("context").agg(F.sum(F.col("alpha") + F.col("beta"))
                                               .alias("context_pseudo_count"))
    df = scores_df.select("user_id", "promotion_id", "p_response").join(eligible_df, on="promotion_id",
                                                                         how="inner")
    if segments_df is not None:
        df = df.join(segments_df.select("user_id", "segment_id"), on="user_id", how="left")
        df = df.withColumn("context", F.coalesce(F.col("segment_id"), F.lit(GLOBAL_CONTEXT)))
    else:
        df = df.withColumn("context", F.lit(GLOBAL_CONTEXT))
    arm_cols = arms_df.select("context", "promotion_id", "alpha", "beta", "posterior_mean",
                              "segment_mean_p")
    df = (df.join(arm_cols, on=["context", "promotion_id"], how="inner")
          .join(pseudo_df, on="context", how="inner"))
    df = filter_frequency_capped(df, events_df, run_date, config)
    df = with_lift(df, config).join(visits_df, on="user_id", how="left")
    return (df.withColumn("p_visit", F.coalesce(F.col("p_visit"), F.lit(1.0)))
            .withColumn("expected_redemptions", F.col("expected_response") * F.col("p_visit")))
