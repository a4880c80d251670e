"""Scoring every eligible (user, active promotion) pair into `promotion_scores`.

Eligible: the promotion is active on the run date (start_date <= D <= end_date), has budget
left (redemptions up to D < budget; no budget = unlimited), its targeting matches the user
(no eligible categories, or one of them among the user's top-level categories) and the user
is not excluded (by id or by segment).
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recsys_spark.domain.promotions import is_targeted_at
from recsys_spark.response.feature_set import FeatureSpec, OptionalInputs, build_features
from recsys_spark.response.labels import cutoff_timestamp
from recsys_spark.response.model import ResponseModel
from recsys_spark.settings.response import ResponseConfig


def candidate_users(users_df: DataFrame | None, events_df: DataFrame,
                    latest_segments_df: DataFrame | None, cfg: ResponseConfig, run_date: dt.date
                    ) -> DataFrame:
    """user_id of every known user (the `users` table, else the users seen in events) who is not
    excluded by id or by their segment in the latest `user_segments` snapshot (if given)."""
    if users_df is not None:
        base_df = users_df.select("user_id").filter(F.col("user_id").isNotNull()).distinct()
    else:
        base_df = (events_df.filter(F.col("user_id").isNotNull()
                                    & (F.col("event_date") <= F.lit(run_date)))
                   .select("user_id").distinct())
    if cfg.excluded_user_ids:
        base_df = base_df.filter(~F.col("user_id").isin(*cfg.excluded_user_ids))
    if cfg.excluded_segments and latest_segments_df is not None:
        excluded_df = (latest_segments_df
                       .filter(F.col("segment_id").isin(*cfg.excluded_segments)
                               | F.col("rfm_segment").isin(*cfg.excluded_segments))
                       .select("user_id"))
        base_df = base_df.join(excluded_df, on="user_id", how="left_anti")
    return base_df


def eligible_pairs(users_df: DataFrame, promotions_df: DataFrame, categories_df: DataFrame,
                   targeting: str) -> DataFrame:
    """user_id, promotion_id of every eligible pair.

    The active promotions are few (tens), so they are broadcast and crossed with the users
    locally in each user partition: the output, and the work, is exactly users x active
    promotions, with no shuffle of the pairs and no users x users or users x all-promotions step.
    """
    pairs_df = users_df.crossJoin(F.broadcast(promotions_df))
    if targeting == "eligible_categories":
        pairs_df = (pairs_df.join(categories_df, on="user_id", how="left")
                    .filter(is_targeted_at(F.col("eligible_categories"), F.col("categories"))))
    return pairs_df.select("user_id", "promotion_id")


def score_pairs(pairs_df: DataFrame, model: ResponseModel, spec: FeatureSpec, events_df: DataFrame,
                promotions_df: DataFrame, inputs: OptionalInputs, cfg: ResponseConfig,
                run_date: dt.date, model_run_id: str) -> DataFrame:
    """user_id, promotion_id, p_response, model_run_id for ``pairs_df``: features as of the end
    of the run date (the same point-in-time code as training), position fixed at
    ``cfg.scoring_position``."""
    probes_df = pairs_df.select(
        F.concat_ws("|", "user_id", "promotion_id").alias("probe_id"), "user_id", "promotion_id",
        F.lit(cutoff_timestamp(run_date)).cast("timestamp").alias("probe_time"),
        F.lit(run_date).alias("probe_date"), F.lit(cfg.scoring_position).cast("int").alias("position"))
    features_df, _, _ = build_features(probes_df, events_df, promotions_df, inputs,
                                       cfg.label_events, cfg.feature_lookback_days, spec=spec,
                                       recent_events=cfg.similarity_recent_events)
    return (model.predict(features_df)
            .select("user_id", "promotion_id", "p_response",
                    F.lit(model_run_id).alias("model_run_id")))
