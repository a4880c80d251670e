"""Tables the bandit stage and `recsys ope` write: bandit_arm_stats, user_promotions, ope_estimates."""
from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructType,
)

from recsys_spark.schemas.spec import CHANGE_DATA_FEED, TableSpec, col

BANDIT_ARM_STATS = StructType([
    col("run_id", StringType(), "run that computed the statistics", nullable=False),
    col("run_date", DateType(), "run date (statistics as of the end of this day, UTC)", nullable=False),
    col("context", StringType(), "segment_id, or 'global' for the all-users context", nullable=False),
    col("promotion_id", StringType(), "the arm", nullable=False),
    col("impressions", DoubleType(), "time-decayed impressions in the window"),
    col("rewards", DoubleType(), "time-decayed attributed rewards in the window"),
    col("raw_impressions", LongType(), "impressions in the window (undecayed)"),
    col("raw_rewards", LongType(), "rewarded impressions in the window (undecayed)"),
    col("prior_mean", DoubleType(), "empirical-Bayes prior mean: the response model's mean put on "
        "the reward's scale (bandit/priors.py); a segment's re-calibrated by the global arm"),
    col("prior_strength", DoubleType(), "prior pseudo-count alpha0 + beta0"),
    col("alpha", DoubleType(), "posterior alpha = prior_mean * prior_strength + rewards"),
    col("beta", DoubleType(), "posterior beta = (1 - prior_mean) * prior_strength + impressions - rewards"),
    col("posterior_mean", DoubleType(), "alpha / (alpha + beta)"),
    col("segment_mean_p", DoubleType(), "mean predicted response of the context's users"),
    col("n_users", LongType(), "scored users in the context"),
    col("window_start", DateType(), "first event date counted"),
    col("window_end", DateType(), "last event date counted (= run_date)"),
])

USER_PROMOTIONS = StructType([
    col("user_id", StringType(), "user", nullable=False),
    col("rank", IntegerType(), "slot 1..N; 0 on the single row of a holdout user", nullable=False),
    col("promotion_id", StringType(), "promotion in this slot; null on a holdout row"),
    col("policy", StringType(), "policy that chose it (thompson, ucb1, ...)", nullable=False),
    col("score", DoubleType(), "the policy's score (draw, index or mean, times the user lift)"),
    col("expected_response", DoubleType(), "user lift * segment posterior mean, in [0, 1]"),
    col("propensity", DoubleType(), "probability this policy puts this promotion in this slot for "
        "this user (Monte Carlo for thompson); 1.0 on a holdout row"),
    col("is_exploration", BooleanType(), "chosen although greedy would not have chosen it "
        "(epsilon: the user's explore coin)", nullable=False),
    col("is_holdout", BooleanType(), "user is in the stable control group (no promotion)",
        nullable=False),
    col("run_id", StringType(), "run that chose it", nullable=False),
    col("run_date", DateType(), "run date", nullable=False),
])

USER_PROMOTIONS_QUARANTINE = StructType([
    col("user_id", StringType(), "user", nullable=False),
    col("rank", IntegerType(), "slot as chosen (0 on a holdout row)"),
    col("promotion_id", StringType(), "promotion chosen (null on a holdout row)"),
    col("policy", StringType(), "policy that chose it"),
    col("score", DoubleType(), "the policy's score"),
    col("expected_response", DoubleType(), "user lift * segment posterior mean"),
    col("propensity", DoubleType(), "probability the policy shows it in this slot"),
    col("is_exploration", BooleanType(), "chosen although greedy would not have chosen it"),
    col("is_holdout", BooleanType(), "the row says the user is in the control group"),
    col("expected_redemptions", DoubleType(), "expected_response x P(visit): what the budget counts"),
    col("reasons", ArrayType(StringType()), "hard constraints or invariants the row breaks "
        "(bandit/audit.py: slot_duplicate, too_many_slots, propensity_out_of_range, "
        "duplicate_promotion, two_of_one_type, not_servable, over_budget, frequency_cap, "
        "ineligible_category, holdout_treated)", nullable=False),
    col("run_id", StringType(), "run whose publish the audit stopped", nullable=False),
    col("run_date", DateType(), "run date", nullable=False),
])

OPE_ESTIMATES = StructType([
    col("run_id", StringType(), "run that estimated it", nullable=False),
    col("run_date", DateType(), "run date", nullable=False),
    col("dataset", StringType(), "logs evaluated (e.g. obd_random_men, jsonl, events)", nullable=False),
    col("policy", StringType(), "evaluated policy (uniform, logged, thompson, ucb, greedy)",
        nullable=False),
    col("estimator", StringType(), "ips | snips | dm | dr", nullable=False),
    col("estimate", DoubleType(), "estimated policy value (expected reward per impression)"),
    col("ci_lower", DoubleType(), "bootstrap 2.5% quantile"),
    col("ci_upper", DoubleType(), "bootstrap 97.5% quantile"),
    col("n", LongType(), "logged impressions evaluated"),
    col("n_bootstrap", IntegerType(), "bootstrap replicates"),
    col("true_value", DoubleType(), "true policy value when known (simulated data), else null"),
    col("source", StringType(), "obd | jsonl | events"),
])

TABLES = {
    "bandit_arm_stats": TableSpec(
        "bandit_arm_stats", BANDIT_ARM_STATS,
        "Beta posteriors per (context, promotion), recomputed from events every run "
        "(time-decayed impressions and attributed rewards; empirical-Bayes prior).",
        partition_by=("run_date",), keys=("run_date", "context", "promotion_id"), written_by="bandit",
        example_queries={"Best arms per segment": (
            "SELECT context, promotion_id, posterior_mean, impressions FROM bandit_arm_stats\n"
            "WHERE run_date = (SELECT max(run_date) FROM bandit_arm_stats)\n"
            "ORDER BY context, posterior_mean DESC")}),
    "user_promotions": TableSpec(
        "user_promotions", USER_PROMOTIONS,
        "Ranked promotions per user and run (the product's output). Holdout users have exactly one "
        "row: rank 0, promotion_id null, is_holdout true. `user_promotions_current` is a view of the "
        "latest run_date.",
        partition_by=("run_date",), keys=("run_date", "user_id", "rank"), written_by="bandit",
        table_properties={CHANGE_DATA_FEED: "true"},
        example_queries={
            "Today's promotions of one user": (
                "SELECT rank, promotion_id, score, propensity FROM user_promotions_current\n"
                "WHERE user_id = 'u000001' AND NOT is_holdout ORDER BY rank"),
            "Promotions by segment": (
                "SELECT s.segment_id, p.promotion_id, count(*) AS users\n"
                "FROM user_promotions_current p JOIN user_segments s\n"
                "  ON s.user_id = p.user_id AND s.run_date = p.run_date\n"
                "WHERE NOT p.is_holdout GROUP BY 1, 2 ORDER BY 1, 3 DESC"),
            "Holdout uplift (redeem rate of treated vs holdout users, next 7 days)": (
                "WITH groups AS (SELECT DISTINCT user_id, is_holdout, run_date\n"
                "                FROM user_promotions WHERE run_date = DATE'2026-11-07'),\n"
                "redeems AS (SELECT DISTINCT user_id FROM events WHERE event_type = 'promo_redeem'\n"
                "            AND event_date BETWEEN DATE'2026-11-08' AND DATE'2026-11-14')\n"
                "SELECT g.is_holdout, count(*) AS users, avg(CASE WHEN r.user_id IS NULL\n"
                "       THEN 0.0 ELSE 1.0 END) AS redeem_rate\n"
                "FROM groups g LEFT JOIN redeems r ON r.user_id = g.user_id GROUP BY g.is_holdout"),
        }),
    "user_promotions_quarantine": TableSpec(
        "user_promotions_quarantine", USER_PROMOTIONS_QUARANTINE,
        "Rows of a bandit run that broke a hard constraint, with the reasons; such a run published "
        "nothing (exit code 3). A run date's partition holds its last attempt (emptied when a "
        "rerun passes the audit).",
        partition_by=("run_date",), keys=(), written_by="bandit",
        example_queries={"Why the last stopped run stopped": (
            "SELECT reason, count(*) AS rows FROM user_promotions_quarantine\n"
            "LATERAL VIEW explode(reasons) r AS reason\n"
            "WHERE run_date = (SELECT max(run_date) FROM user_promotions_quarantine)\n"
            "GROUP BY reason ORDER BY rows DESC")}),
    "ope_estimates": TableSpec(
        "ope_estimates", OPE_ESTIMATES,
        "Off-policy value estimates (IPS, SNIPS, DM, DR) with bootstrap 95% CIs.",
        partition_by=("run_date", "dataset", "policy"), keys=("run_date", "dataset", "policy",
                                                              "estimator"),
        written_by="recsys ope",
        example_queries={"Compare policies": (
            "SELECT policy, estimator, estimate, ci_lower, ci_upper, n FROM ope_estimates\n"
            "WHERE dataset = 'obd_random_men' ORDER BY policy, estimator")}),
}
