"""Per-user outcomes of the holdout and treated users, aggregated to sufficient statistics per
(dimension, value, group), then the readout rows (stats.py) — all in small frames.

The experiment over a window of W days ending at the run date D: a user is in it when a bandit
plan of run dates D-W .. D-1 (served on the following days) names them; their group is the
plans' ``is_holdout`` (the stable hash keeps it fixed; a user seen in both groups, after a
change of holdout_share, is left out). Outcomes are the user's events of D-W+1 .. D:
redemptions, whether any (response), and purchase revenue (price x quantity). The group is a
hash of the user id, so the two groups are comparable and the difference in means is the
effect of the promotions.
"""
from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recsys_spark.domain.events import PROMO_REDEEM, PURCHASE
from recsys_spark.readout.stats import GroupStats, diff_in_means, srm_p_value

METRICS: tuple[str, ...] = ("response_rate", "redemptions_per_user", "revenue_per_user")
DIMENSIONS: tuple[str, ...] = ("all", "segment", "promo_type")
CONTROL, TREATED = "control", "treated"


def experiment_users(plans_df: DataFrame) -> DataFrame:
    """user_id, group (control | treated) from plan rows (user_id, is_holdout); users in both
    groups are dropped."""
    return (plans_df.groupBy("user_id")
            .agg(F.min(F.col("is_holdout").cast("int")).alias("lo"),
                 F.max(F.col("is_holdout").cast("int")).alias("hi"))
            .filter(F.col("lo") == F.col("hi"))
            .select("user_id", F.when(F.col("hi") == 1, F.lit(CONTROL)).otherwise(F.lit(TREATED))
                    .alias("group")))


def user_outcomes(users_df: DataFrame, events_df: DataFrame, promotions_df: DataFrame,
                  segments_df: DataFrame | None) -> DataFrame:
    """dimension, dim_value, user_id, group, responded, redemptions, revenue: one row per user
    for 'all' and 'segment', one per user and promo type for 'promo_type' (zeros when none).

    Args:
        users_df: from :func:`experiment_users`.
        events_df: the users' events of the outcome window.
        promotions_df: promotion_id, promo_type.
        segments_df: user_id, segment_id (latest user_segments) or None.
    """
    types_df = promotions_df.select("promotion_id", "promo_type").distinct()
    ev_df = (events_df.filter(F.col("event_type").isin(PROMO_REDEEM, PURCHASE))
             .join(users_df.select("user_id"), on="user_id", how="left_semi")
             .join(F.broadcast(types_df), on="promotion_id", how="left")
             .select("user_id", "promo_type",
                     (F.col("event_type") == PROMO_REDEEM).cast("long").alias("redeem"),
                     F.when(F.col("event_type") == PURCHASE,
                            F.col("price") * F.coalesce(F.col("quantity"), F.lit(1)))
                     .otherwise(F.lit(0.0)).alias("amount")))
    sums = [F.sum("redeem").alias("redemptions"), F.sum("amount").alias("revenue")]
    total_df = ev_df.groupBy("user_id").agg(*sums)
    by_type_df = ev_df.filter(F.col("promo_type").isNotNull()).groupBy("user_id", "promo_type").agg(*sums)

    def filled(df: DataFrame) -> DataFrame:
        redemptions = F.coalesce(F.col("redemptions"), F.lit(0)).cast("long")
        return df.select("dimension", "dim_value", "user_id", "group",
                         (redemptions > 0).cast("long").alias("responded"),
                         redemptions.alias("redemptions"),
                         F.coalesce(F.col("revenue"), F.lit(0.0)).alias("revenue"))

    base_df = users_df.join(total_df, on="user_id", how="left")
    parts = [filled(base_df.withColumn("dimension", F.lit("all")).withColumn("dim_value", F.lit("all")))]
    if segments_df is not None:
        seg_df = base_df.join(segments_df.select("user_id", "segment_id"), on="user_id", how="left")
        parts.append(filled(seg_df.withColumn("dimension", F.lit("segment"))
                            .withColumn("dim_value", F.coalesce("segment_id", F.lit("unknown")))))
    pairs_df = users_df.crossJoin(F.broadcast(types_df.select("promo_type").distinct()))
    parts.append(filled(pairs_df.join(by_type_df, on=["user_id", "promo_type"], how="left")
                        .withColumn("dimension", F.lit("promo_type"))
                        .withColumnRenamed("promo_type", "dim_value")))
    out_df = parts[0]
    for part in parts[1:]:
        out_df = out_df.unionByName(part)
    return out_df


def group_statistics(outcomes_df: DataFrame) -> DataFrame:
    """dimension, dim_value, group, n and (sum, sum of squares) of each metric: a few rows per
    segment and promo type."""
    values = {"response_rate": F.col("responded").cast("double"),
              "redemptions_per_user": F.col("redemptions").cast("double"),
              "revenue_per_user": F.col("revenue").cast("double")}
    aggs = [F.count(F.lit(1)).alias("n")]
    for metric, value in values.items():
        aggs += [F.sum(value).alias(f"{metric}_sum"), F.sum(value * value).alias(f"{metric}_sq")]
    return outcomes_df.groupBy("dimension", "dim_value", "group").agg(*aggs)


def _group_stats(row: dict | None, metric: str) -> GroupStats:
    if row is None:
        return GroupStats(0, 0.0, 0.0)
    return GroupStats(int(row["n"]), float(row[f"{metric}_sum"]), float(row[f"{metric}_sq"]))


def readout_rows(stats_rows: Iterable[dict], holdout_share: float, confidence: float,
                 srm_alpha: float) -> list[dict]:
    """One row per (dimension, dim_value, metric) from :func:`group_statistics`' rows, in the
    order of DIMENSIONS, value and METRICS."""
    by_key: dict[tuple[str, str], dict[str, dict]] = {}
    for r in stats_rows:
        by_key.setdefault((r["dimension"], r["dim_value"]), {})[r["group"]] = r
    out = []
    for (dimension, value), groups in sorted(by_key.items(),
                                             key=lambda kv: (DIMENSIONS.index(kv[0][0]), kv[0][1])):
        c_n = int(groups[CONTROL]["n"]) if CONTROL in groups else 0
        t_n = int(groups[TREATED]["n"]) if TREATED in groups else 0
        srm = srm_p_value(c_n, t_n, holdout_share)
        for metric in METRICS:
            control, treated = (_group_stats(groups.get(g), metric) for g in (CONTROL, TREATED))
            est = diff_in_means(control, treated, confidence)
            out.append({
                "dimension": dimension, "dim_value": value, "metric": metric,
                "control_users": c_n, "treated_users": t_n,
                "control_mean": control.mean if c_n else None,
                "treated_mean": treated.mean if t_n else None,
                "uplift": est.uplift if est else None, "ci_low": est.ci_low if est else None,
                "ci_high": est.ci_high if est else None, "p_value": est.p_value if est else None,
                "incremental": est.uplift * t_n if est else None,
                "incremental_ci_low": est.ci_low * t_n if est else None,
                "incremental_ci_high": est.ci_high * t_n if est else None,
                "confidence": confidence, "expected_holdout_share": holdout_share,
                "observed_holdout_share": c_n / (c_n + t_n) if c_n + t_n else None,
                "srm_p_value": srm, "srm_flag": None if srm is None else srm < srm_alpha,
            })
    return out
