"""Empirical-Bayes Beta posteriors per (context, promotion).

Prior mean: the response model. For a context (segment, or 'global' = all scored users) the
prior mean is the mean predicted response ``m_c`` of its users for that promotion, so a new
promotion starts from what the response model expects, not from Beta(1, 1).

Calibration to the reward: the model may predict another event than the bandit rewards (by
default it learns P(click or redeem), the bandit counts redemptions, about a third as frequent
on the simulated shop), so its level is put on the reward's scale first: every ``m_c`` is
multiplied by ``k = (R + c) / (E + c)``, with R the decayed rewards and E the rewards the model's
global means predict for the same impressions (sum of impressions x m_g), over every promotion
with data; ``c = prior_strength x mean m_g`` shrinks k toward 1 when there is little data. k keeps
the model's contrasts between promotions and segments; it only fixes the level, which matters
for promotions with few impressions (without it a new promotion started ~3x too optimistic).

Shrinkage user -> segment -> global:
* global arm: ``Beta(s * m_g + R_g, s * (1 - m_g) + N_g - R_g)`` with posterior mean ``mu_g``;
* segment arm: its prior mean is the response model's segment level re-calibrated by what the
  global arm observed, ``m_s * mu_g / m_g`` (clipped into (0, 1)); then its own decayed counts are
  added. A segment with no data sits at the global evidence scaled by the model's segment
  contrast; with much data its own rate dominates. (The global counts include the segment's own,
  a mild double count accepted for a closed form.)
* user: see policies.py — the user's predicted response relative to the segment mean scales
  the segment posterior.

Prior strength ``s`` (pseudo-impressions) is fixed from config, or fitted per promotion by the
method of moments across segment contexts: with observed rates r_c = R_c / N_c and prior means
m_c, the between-context variance is tau2 = sum N_c (r_c - m_c)^2 / sum N_c minus the mean
binomial sampling variance; s = mean(m (1 - m)) / tau2 - 1, clamped to [min, max]. tau2 <= 0 means
the model explains the segments fully (s = max); fewer than two contexts with data keep the
fixed strength.
"""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recsys_spark.bandit.arm_stats import GLOBAL_CONTEXT
from recsys_spark.settings.bandit import BanditConfig

_EPS = 1e-6


def context_means(scores_df: DataFrame, segments_df: DataFrame | None) -> DataFrame:
    """Mean predicted response per (context, promotion) over the scored users.

    Returns:
        context, promotion_id, segment_mean_p (rounded to 1e-12), n_users.
    """
    def agg(df: DataFrame) -> DataFrame:
        return (df.groupBy("context", "promotion_id")
                .agg(F.round(F.avg("p_response"), 12).alias("segment_mean_p"),
                     F.count(F.lit(1)).alias("n_users")))

    global_df = agg(scores_df.withColumn("context", F.lit(GLOBAL_CONTEXT)))
    if segments_df is None:
        return global_df
    seg_df = agg(scores_df.join(segments_df.select("user_id", F.col("segment_id").alias("context")),
                                on="user_id", how="inner"))
    return global_df.unionByName(seg_df)


def prior_strengths(arms_df: DataFrame, config: BanditConfig) -> DataFrame:
    """Prior strength per promotion (fixed, or method of moments across segment contexts).

    Args:
        arms_df: context, promotion_id, segment_mean_p, impressions, rewards (nulls = no data).

    Returns:
        promotion_id, prior_strength.
    """
    fixed = F.lit(float(config.prior_strength))
    promos_df = arms_df.select("promotion_id").distinct()
    if config.prior_strength_method == "fixed":
        return promos_df.withColumn("prior_strength", fixed)
    seg_df = arms_df.filter((F.col("context") != GLOBAL_CONTEXT) & (F.col("impressions") > 0))
    m = F.least(F.greatest(F.col("segment_mean_p"), F.lit(_EPS)), F.lit(1 - _EPS))
    rate = F.col("rewards") / F.col("impressions")
    moments_df = (seg_df.groupBy("promotion_id").agg(
        F.count(F.lit(1)).alias("n_ctx"),
        (F.sum(F.col("impressions") * F.pow(rate - m, 2)) / F.sum("impressions")).alias("dispersion"),
        F.avg(m * (1 - m) / F.col("impressions")).alias("sampling_var"),
        F.avg(m * (1 - m)).alias("mean_var")))
    tau2 = F.col("dispersion") - F.col("sampling_var")
    lo, hi = F.lit(float(config.prior_strength_min)), F.lit(float(config.prior_strength_max))
    fitted = (F.when(F.coalesce(F.col("n_ctx"), F.lit(0)) < 2, fixed)
              .when(tau2 <= 0, hi)
              .otherwise(F.least(F.greatest(F.col("mean_var") / tau2 - 1, lo), hi)))
    return (promos_df.join(moments_df, on="promotion_id", how="left")
            .select("promotion_id", F.round(fitted, 9).alias("prior_strength")))


def prior_calibration(means_df: DataFrame, counts_df: DataFrame, config: BanditConfig) -> float:
    """k, the factor that puts the response model's means on the reward's scale (module doc).

    Args:
        means_df: from :func:`context_means`; counts_df: from arm_stats.context_counts.

    Returns:
        k > 0, rounded to 1e-9 (1.0 when no promotion has scores).
    """
    row = (means_df.filter(F.col("context") == GLOBAL_CONTEXT)
           .join(counts_df.filter(F.col("context") == GLOBAL_CONTEXT), on=["context", "promotion_id"],
                 how="left")
           .agg(F.sum("rewards").alias("rewards"),
                F.sum(F.col("impressions") * F.col("segment_mean_p")).alias("expected"),
                F.avg("segment_mean_p").alias("mean_p")).first())
    pseudo = float(config.prior_strength) * float(row["mean_p"] or 0.0)
    expected = float(row["expected"] or 0.0) + pseudo
    if expected <= 0.0:
        return 1.0
    return round((float(row["rewards"] or 0.0) + pseudo) / expected, 9)


def posteriors(means_df: DataFrame, counts_df: DataFrame, config: BanditConfig,
               calibration: float = 1.0) -> DataFrame:
    """Beta posteriors per (context, promotion) for every context with scored users.

    Args:
        means_df: from :func:`context_means`.
        counts_df: from arm_stats.context_counts (arms without impressions may be absent).
        calibration: k from :func:`prior_calibration` (1.0: the model's means as they are).

    Returns:
        context, promotion_id, impressions, rewards, raw_impressions, raw_rewards, prior_mean,
        prior_strength, alpha, beta, posterior_mean, segment_mean_p, n_users.
    """
    clip = lambda c: F.least(F.greatest(c, F.lit(_EPS)), F.lit(1 - _EPS))  # noqa: E731
    arms_df = (means_df.join(counts_df, on=["context", "promotion_id"], how="left")
               .fillna(0, subset=["impressions", "rewards", "raw_impressions", "raw_rewards"])
               .withColumn("_m", clip(F.col("segment_mean_p") * F.lit(float(calibration)))))
    # The strength fit compares observed rates with the (calibrated) model means.
    arms_df = arms_df.join(prior_strengths(arms_df.withColumn("segment_mean_p", F.col("_m")), config),
                           on="promotion_id", how="left")
    s = F.col("prior_strength")
    global_df = (arms_df.filter(F.col("context") == GLOBAL_CONTEXT)
                 .select("promotion_id", F.col("_m").alias("_m_g"),
                         ((F.col("_m") * s + F.col("rewards")) / (s + F.col("impressions"))).alias("_mu_g")))
    prior_mean = (F.when(F.col("context") == GLOBAL_CONTEXT, F.col("_m"))
                  .otherwise(clip(F.col("_m") * F.col("_mu_g") / F.col("_m_g"))))
    out_df = (arms_df.join(global_df, on="promotion_id", how="left")
              .withColumn("prior_mean", F.round(prior_mean, 12))
              .withColumn("alpha", F.col("prior_mean") * s + F.col("rewards"))
              .withColumn("beta", (1 - F.col("prior_mean")) * s + F.col("impressions") - F.col("rewards")))
    return out_df.select(
        "context", "promotion_id", "impressions", "rewards",
        F.col("raw_impressions").cast("long").alias("raw_impressions"),
        F.col("raw_rewards").cast("long").alias("raw_rewards"),
        "prior_mean", "prior_strength", "alpha", "beta",
        (F.col("alpha") / (F.col("alpha") + F.col("beta"))).alias("posterior_mean"),
        "segment_mean_p", F.col("n_users").cast("long").alias("n_users"))
