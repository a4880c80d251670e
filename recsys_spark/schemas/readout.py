"""The table the readout stage writes: ab_readout (holdout vs treated users over a window)."""
from __future__ import annotations

from pyspark.sql.types import BooleanType, DateType, DoubleType, IntegerType, LongType, StringType, StructType

from recsys_spark.schemas.spec import TableSpec, col

AB_READOUT = StructType([
    col("window_days", IntegerType(), "plans of run dates run_date - window_days .. run_date - 1; "
        "outcomes of event dates run_date - window_days + 1 .. run_date", nullable=False),
    col("dimension", StringType(), "all | segment | promo_type", nullable=False),
    col("dim_value", StringType(), "'all', a segment id ('unknown': no segment) or a promo type",
        nullable=False),
    col("metric", StringType(), "response_rate (share of users with a redemption), "
        "redemptions_per_user, revenue_per_user (EUR of purchases; per promo_type: purchases made "
        "with a promotion of the type)", nullable=False),
    col("control_users", LongType(), "holdout users with a plan in the window", nullable=False),
    col("treated_users", LongType(), "treated users with a plan in the window", nullable=False),
    col("control_mean", DoubleType(), "metric's mean over the control users"),
    col("treated_mean", DoubleType(), "metric's mean over the treated users"),
    col("uplift", DoubleType(), "treated_mean - control_mean (null: a group has < 2 users)"),
    col("ci_low", DoubleType(), "lower end of the uplift's CI (Welch / delta method, normal)"),
    col("ci_high", DoubleType(), "upper end of the uplift's CI"),
    col("p_value", DoubleType(), "two-sided p-value of uplift = 0"),
    col("incremental", DoubleType(), "uplift x treated_users: responders, redemptions or EUR the "
        "promotions added"),
    col("incremental_ci_low", DoubleType(), "ci_low x treated_users"),
    col("incremental_ci_high", DoubleType(), "ci_high x treated_users"),
    col("confidence", DoubleType(), "confidence level of the CIs", nullable=False),
    col("expected_holdout_share", DoubleType(), "bandit.holdout_share", nullable=False),
    col("observed_holdout_share", DoubleType(), "control_users / (control_users + treated_users)"),
    col("srm_p_value", DoubleType(), "chi-square p-value of the control count against the "
        "expected share (sample-ratio mismatch)"),
    col("srm_flag", BooleanType(), "srm_p_value < bandit.readout_srm_alpha: the split is not "
        "what the hashing should give; do not trust this row's uplift"),
    col("run_id", StringType(), "run that measured it", nullable=False),
    col("run_date", DateType(), "run date (partition column)", nullable=False),
])

POLICY_MONITOR = StructType([
    col("metric", StringType(), "exploration_rate, promotion_share, promotion_mix_psi, "
        "budget_burn_rate, days_of_budget_left, frequency_cap_share, ece_live, ece_at_training, "
        "ece_drift (recsys_spark/readout/monitor.py)", nullable=False),
    col("key", StringType(), "'all', or the promotion_id of a per-promotion figure", nullable=False),
    col("value", DoubleType(), "the figure (null: nothing to compute it from)"),
    col("threshold", DoubleType(), "its bandit.monitor_* limit (null: none)"),
    col("flagged", BooleanType(), "value > threshold: look at it (a flag never fails the run)"),
    col("run_id", StringType(), "run that measured it", nullable=False),
    col("run_date", DateType(), "run date of the plan monitored (partition column)", nullable=False),
])

TABLES = {
    "ab_readout": TableSpec(
        "ab_readout", AB_READOUT,
        "The A/B readout of the promotion policy: the stable holdout (control, no promotion) "
        "against the treated users of `user_promotions` over a window, overall, per segment and "
        "per promo type, with CIs, p-values and the sample-ratio-mismatch check.",
        partition_by=("run_date",), keys=("dimension", "dim_value", "metric"), written_by="readout",
        example_queries={"Overall uplift of the last readout": (
            "SELECT metric, control_mean, treated_mean, uplift, ci_low, ci_high, p_value, srm_flag\n"
            "FROM ab_readout WHERE dimension = 'all'\n"
            "  AND run_date = (SELECT max(run_date) FROM ab_readout)")}),
    "policy_monitor": TableSpec(
        "policy_monitor", POLICY_MONITOR,
        "Monitoring of the live policy per run date: exploration rate, promotion mix and its shift "
        "(PSI) against the previous plan, budget burn per promotion, share of users at the "
        "frequency cap, calibration drift of the response model; figures above their thresholds "
        "are flagged.",
        partition_by=("run_date",), keys=("metric", "key"), written_by="readout",
        example_queries={"Flagged figures over time": (
            "SELECT run_date, metric, key, value, threshold FROM policy_monitor\n"
            "WHERE flagged ORDER BY run_date, metric, key")}),
}
