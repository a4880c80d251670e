"""Arm statistics and posteriors on hand-computed numbers."""
from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_approx_df_equality

from recsys_spark.bandit.priors import prior_strengths
from recsys_spark.bandit.settings import BanditConfig
from recsys_spark.bandit.stage import arm_statistics
from tests.bandit.data import EVENTS, RUN_DATE, SCORES, SEGMENTS, UTC, event, scores_rows, segments_rows

pytestmark = pytest.mark.unit


def test_decayed_counts_attribution_and_empirical_bayes_posterior(spark):
    config = BanditConfig(half_life_days=1.0, window_days=10, attribution_window_hours=24,
                          prior_strength=10.0)
    t = lambda d, h: dt.datetime(2026, 11, d, h, tzinfo=UTC)  # noqa: E731
    events_df = spark.createDataFrame([
        event("i1", t(20, 0), "promo_impression", "u1", "p1", 1),   # age 1 day -> weight 0.5
        event("r1", t(20, 1), "promo_redeem", "u1", "p1"),          # credited to i1
        event("i2", t(19, 0), "promo_impression", "u2", "p1", 1),   # age 2 days -> weight 0.25
        event("r2", t(20, 5), "promo_redeem", "u2", "p1"),          # 29 h after i2: not credited
        event("i3", t(5, 0), "promo_impression", "u1", "p1", 1),    # before the 10-day window
        event("i4", t(20, 2), "promo_impression", None, "p1", 1),   # anonymous: not counted
    ], EVENTS)
    scores_df = spark.createDataFrame(scores_rows({("u1", "p1"): 0.2, ("u2", "p1"): 0.4}), SCORES)
    segments_df = spark.createDataFrame(segments_rows({"u1": "s0", "u2": "s1"}), SEGMENTS)
    out_df = arm_statistics(events_df, scores_df.select("user_id", "promotion_id", "p_response"),
                            segments_df.select("user_id", "segment_id"), RUN_DATE, config)

    # global: prior mean 0.3, strength 10 -> alpha 3 + 0.5, beta 7 + 0.75 - 0.5
    mu_g = 3.5 / 10.75
    s0 = 0.2 * mu_g / 0.3   # segment prior = model's segment level re-calibrated by the global arm
    s1 = 0.4 * mu_g / 0.3
    expected = [
        ("global", "p1", 0.75, 0.5, 2, 1, 0.3, 10.0, 3.5, 7.25, mu_g, 0.3, 2),
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
