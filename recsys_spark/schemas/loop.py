"""The table `recsys simulate-loop` writes: loop_results (see /work/helper_briefs/LOOP_CONTRACT.md)."""
from __future__ import annotations

from pyspark.sql.types import DateType, DoubleType, IntegerType, LongType, StringType, StructType

from recsys_spark.schemas.spec import TableSpec, col

LOOP_RESULTS = StructType([
    col("run_id", StringType(), "run id of the loop (its first run date + config fingerprint)",
        nullable=False),
    col("policy", StringType(), "bandit policy of this loop (thompson, ucb, greedy, random, ...)",
        nullable=False),
    col("loop_day", IntegerType(), "1..N: day of the closed loop", nullable=False),
    col("run_date", DateType(), "date the bandit ran; its promotions are shown on run_date + 1",
        nullable=False),
    col("shown_users", LongType(), "users who saw at least one of the policy's promotions on run_date + 1"),
    col("impressions", LongType(), "promotion impressions of the policy shown on run_date + 1"),
    col("expected_reward", DoubleType(), "sum of the TRUE p_redeem over the impressions shown"),
    col("oracle_reward", DoubleType(), "sum over the same users of the top-n true p_redeem among the "
        "promotions active that day (n = impressions the user got)"),
    col("regret", DoubleType(), "oracle_reward - expected_reward"),
    col("realized_rewards", LongType(), "promo_redeem events the simulator drew for those impressions"),
    col("cumulative_reward", DoubleType(), "running sum of expected_reward over loop_day"),
    col("cumulative_regret", DoubleType(), "running sum of regret over loop_day"),
])

TABLES = {
    "loop_results": TableSpec(
        "loop_results", LOOP_RESULTS,
        "Closed-loop simulation (`recsys simulate-loop`): per policy and loop day, the expected "
        "reward of the promotions shown (true redemption probabilities from the simulator), the "
        "oracle's reward for the same users and impressions, regret and their running sums. Each "
        "policy's run replaces its own partition.",
        partition_by=("policy",), keys=("policy", "loop_day"), written_by="simulate-loop",
        example_queries={"Cumulative regret per policy": (
            "SELECT policy, max(loop_day) AS days, max_by(cumulative_regret, loop_day) AS regret\n"
            "FROM loop_results GROUP BY policy ORDER BY regret")}),
}
