"""Arm statistics and posteriors on hand-computed numbers."""
from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_approx_df_equality
from pyspark.sql import functions as F

from recsys_spark.bandit.arms import arm_statistics
from recsys_spark.bandit.priors import posteriors, prior_calibration, prior_strengths
from recsys_spark.settings.bandit import BanditConfig
from tests.bandit.data import RUN_DATE, UTC, scores_rows, segments_rows
from tests.factories import event, frame

pytestmark = pytest.mark.unit


def test_decayed_counts_attribution_and_empirical_bayes_posterior(spark):
    config = BanditConfig(half_life_days=1.0, window_days=10, attribution_window_hours=24,
                          prior_strength=10.0)
    t = lambda d, h: dt.datetime(2026, 11, d, h, tzinfo=UTC)  # noqa: E731
    events_df = frame(spark, "events", [
        event("i1", t(20, 0), "promo_impression", "u1", promotion_id="p1"),   # age 1 day -> weight 0.5
        event("r1", t(20, 1), "promo_redeem", "u1", promotion_id="p1"),          # credited to i1
        event("i2", t(19, 0), "promo_impression", "u2", promotion_id="p1"),   # age 2 days -> weight 0.25
        event("r2", t(20, 5), "promo_redeem", "u2", promotion_id="p1"),          # 29 h after i2: not credited
        event("i3", t(5, 0), "promo_impression", "u1", promotion_id="p1"),    # before the 10-day window
        event("i4", t(20, 2), "promo_impression", None, promotion_id="p1"),   # anonymous: not counted
    ])
    scores_df = frame(spark, "promotion_scores", scores_rows({("u1", "p1"): 0.2, ("u2", "p1"): 0.4}))
    segments_df = frame(spark, "user_segments", segments_rows({"u1": "s0", "u2": "s1"}))
    out_df, k = arm_statistics(events_df, scores_df.select("user_id", "promotion_id", "p_response"),
                               segments_df.select("user_id", "segment_id"), RUN_DATE, config)

    # Calibration: rewards 0.5 against 0.75 x 0.3 expected, each side plus 10 x 0.3 pseudo.
    assert k == round(3.5 / 3.225, 9)
    # global: prior mean 0.3 k, strength 10 -> alpha 3k + 0.5, beta 10 (1 - 0.3k) + 0.75 - 0.5
    mu_g = (3 * k + 0.5) / 10.75
    s0 = 0.2 * mu_g / 0.3   # segment prior = model's segment level re-calibrated by the global arm
    s1 = 0.4 * mu_g / 0.3
    expected = [
        ("global", "p1", 0.75, 0.5, 2, 1, 0.3 * k, 10.0, 3 * k + 0.5, 10 * (1 - 0.3 * k) + 0.25, mu_g,
         0.3, 2),
        ("s0", "p1", 0.5, 0.5, 1, 1, s0, 10.0, 10 * s0 + 0.5, 10 * (1 - s0), (10 * s0 + 0.5) / 10.5, 0.2, 1),
        ("s1", "p1", 0.25, 0.0, 1, 0, s1, 10.0, 10 * s1, 10 * (1 - s1) + 0.25, 10 * s1 / 10.25, 0.4, 1),
    ]
    cols = ["context", "promotion_id", "impressions", "rewards", "raw_impressions", "raw_rewards",
            "prior_mean", "prior_strength", "alpha", "beta", "posterior_mean", "segment_mean_p", "n_users"]
    expected_df = spark.createDataFrame(expected, out_df.select(*cols).schema)
    assert_approx_df_equality(out_df.select(*cols).orderBy("context"), expected_df, precision=1e-9,
                              ignore_nullable=True)
    bounds = out_df.select("window_start", "window_end").distinct().collect()
    assert [(r[0], r[1]) for r in bounds] == [(dt.date(2026, 11, 11), RUN_DATE)]


def test_method_of_moments_strength(spark):
    config = BanditConfig(prior_strength_method="moments", prior_strength=20.0)
    arms_df = spark.createDataFrame([
        ("s0", "p1", 0.2, 100.0, 10.0), ("s1", "p1", 0.2, 100.0, 30.0),
        ("global", "p1", 0.2, 200.0, 40.0),                 # the global context is not a sample
        ("s0", "p2", 0.1, 50.0, 5.0),                       # one context only: fixed strength
        ("s0", "p3", 0.1, 100.0, 10.0), ("s1", "p3", 0.1, 100.0, 10.0),  # no dispersion: max
    ], "context string, promotion_id string, segment_mean_p double, impressions double, rewards double")
    out = {r["promotion_id"]: r["prior_strength"] for r in prior_strengths(arms_df, config).collect()}
    # p1: dispersion 0.01, sampling variance 0.16/100, tau2 = 0.0084 -> 0.16 / 0.0084 - 1
    assert out["p1"] == pytest.approx(0.16 / 0.0084 - 1, rel=1e-9)
    assert out["p2"] == 20.0
    assert out["p3"] == 500.0


def test_prior_calibration_puts_a_new_promotion_on_the_reward_scale(spark):
    # The model predicts clicks (p1 0.3, p2 0.6); the bandit counts redemptions: p1 has 1000
    # impressions and 100 rewards, p2 is new. k = (100 + 20 x 0.45) / (1000 x 0.3 + 20 x 0.45).
    config = BanditConfig(prior_strength=20.0)
    means_df = spark.createDataFrame(
        [("global", "p1", 0.3, 10), ("global", "p2", 0.6, 10), ("s0", "p1", 0.3, 5), ("s0", "p2", 0.6, 5)],
        "context string, promotion_id string, segment_mean_p double, n_users long")
    counts = [("global", "p1", 1000.0, 100.0, 1000, 100), ("s0", "p1", 400.0, 40.0, 400, 40)]
    schema = ("context string, promotion_id string, impressions double, rewards double, "
              "raw_impressions long, raw_rewards long")
    counts_df = spark.createDataFrame(counts, schema)
    k = prior_calibration(means_df, counts_df, config)
    assert k == round(109 / 309, 9)
    out = posteriors(means_df, counts_df, config, k).collect()
    rows = {(r["context"], r["promotion_id"]): r for r in out}
    # The new promotion starts at the model's contrast (2x p1's model level) on the reward scale.
    assert rows[("global", "p2")]["prior_mean"] == pytest.approx(0.6 * k, abs=1e-12)
    assert rows[("global", "p2")]["posterior_mean"] == pytest.approx(0.6 * k, abs=1e-12)
    assert rows[("global", "p2")]["alpha"] == pytest.approx(20 * 0.6 * k, abs=1e-9)
    # An arm with data: the calibrated prior plus its counts.
    assert rows[("global", "p1")]["alpha"] == pytest.approx(20 * 0.3 * k + 100, abs=1e-9)
    # Segments: their own model level re-calibrated by the global arm (k cancels there).
    # s0's model level for p2 is 0.6 like the global one: prior = 0.6 x mu_g / 0.6 = 0.6 k.
    mu_g2 = rows[("global", "p2")]["posterior_mean"]
    assert rows[("s0", "p2")]["prior_mean"] == pytest.approx(0.6 * mu_g2 / 0.6, abs=1e-12)
    assert rows[("s0", "p1")]["prior_mean"] == pytest.approx(
        0.3 * rows[("global", "p1")]["posterior_mean"] / 0.3, abs=1e-12)
    # A model already on the reward's scale keeps k = 1; no data at all keeps k = 1 too.
    calibrated_df = means_df.withColumn("segment_mean_p", F.col("segment_mean_p") / 3)
    assert prior_calibration(calibrated_df, counts_df, config) == 1.0
    assert prior_calibration(means_df, counts_df.limit(0), config) == 1.0
