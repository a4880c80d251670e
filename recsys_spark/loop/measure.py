"""Rewards and regret of the promotions a policy showed, measured on the simulator's ground truth.

For each day shown (run_date + 1):

* ``expected_reward`` = sum of the TRUE P(redeem | shown) over the impressions actually shown;
* ``oracle_reward``   = for each user who saw n promotions, the sum of the user's n highest true
  P(redeem) among the promotions active that day, summed over those users;
* ``regret`` = oracle_reward - expected_reward (>= 0: shown promotions are active and distinct);
* ``realized_rewards`` = promo_redeem events the simulator drew for those impressions.

The oracle ignores the bandit's business rules (budgets, frequency caps, one promotion per type,
category targeting, the holdout), so a policy's regret has a floor above zero; every policy pays
the same floor. Sums are rounded to 1e-9 so partitioning cannot change the table.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from recsys_spark.domain.events import PROMO_IMPRESSION, PROMO_REDEEM
from recsys_spark.simulate.truth import read_truth, truth_uri

_DIGITS = 9


def shown_events(spark: SparkSession, landing_root: str, shown_dates: Sequence[dt.date]
                 ) -> tuple[DataFrame, DataFrame]:
    """(impressions, redeems) generated for ``shown_dates``, from the simulator's true events.

    True events are the generated events before any dirt: an impression the clean stage later
    quarantines was still shown. Bots never get promotions.

    Returns:
        Two DataFrames of date, user_id, promotion_id (one row per event).
    """
    events_df = (read_truth(spark, landing_root, "true_events")
                 .filter(F.col("gen_date").isin(list(shown_dates)) & ~F.col("is_bot")
                         & F.col("user_id").isNotNull() & F.col("promotion_id").isNotNull()))

    def of_type(event_type: str) -> DataFrame:
        return events_df.filter(F.col("event_type") == event_type).select(
            F.col("gen_date").alias("date"), "user_id", "promotion_id")

    return of_type(PROMO_IMPRESSION), of_type(PROMO_REDEEM)


def active_promotions(spark: SparkSession, landing_root: str, dates: Sequence[dt.date]) -> DataFrame:
    """date, promotion_id: the promotions running on each of ``dates`` (the simulator's catalog)."""
    dates_df = spark.createDataFrame([(d,) for d in dates], "date date")
    promos_df = spark.read.parquet(truth_uri(landing_root, "promotions.parquet")).select(
        "promotion_id", F.to_date("start_date").alias("start"), F.to_date("end_date").alias("end"))
    return (dates_df.crossJoin(F.broadcast(promos_df))
            .filter((F.col("start") <= F.col("date")) & (F.col("date") <= F.col("end")))
            .select("date", "promotion_id"))


def daily_rewards(impressions_df: DataFrame, redeems_df: DataFrame, response_df: DataFrame,
                  active_df: DataFrame, dates_df: DataFrame) -> DataFrame:
    """Per shown date: shown_users, impressions, expected_reward, oracle_reward, realized_rewards.

    Args:
        impressions_df / redeems_df: date, user_id, promotion_id (from :func:`shown_events`).
        response_df: user_id, promotion_id, p_redeem (the true response).
        active_df: date, promotion_id (from :func:`active_promotions`).
        dates_df: date: every shown date (a date without impressions gets zeros).

    Returns:
        date, shown_users (long), impressions (long), expected_reward, oracle_reward (double,
        rounded to 1e-9), realized_rewards (long); one row per row of ``dates_df``.
    """
    truth_df = response_df.select("user_id", "promotion_id", "p_redeem")
    per_user_df = (impressions_df.join(truth_df, on=["user_id", "promotion_id"], how="left")
                   .groupBy("date", "user_id")
                   .agg(F.count(F.lit(1)).alias("n"),
                        F.sum(F.coalesce(F.col("p_redeem"), F.lit(0.0))).alias("expected")))
    # Only the shown users' candidates: (users shown) x (active promotions), no wider.
    rank_w = Window.partitionBy("date", "user_id").orderBy(F.col("p_redeem").desc(), F.col("promotion_id"))
    oracle_df = (per_user_df.select("date", "user_id", "n")
                 .join(active_df, on="date", how="inner")
                 .join(truth_df, on=["user_id", "promotion_id"], how="inner")
                 .withColumn("_rank", F.row_number().over(rank_w))
                 .filter(F.col("_rank") <= F.col("n"))
                 .groupBy("date", "user_id").agg(F.sum("p_redeem").alias("oracle")))
    users_df = (per_user_df.join(oracle_df, on=["date", "user_id"], how="left")
                .groupBy("date")
                .agg(F.count(F.lit(1)).alias("shown_users"), F.sum("n").alias("impressions"),
                     F.round(F.sum("expected"), _DIGITS).alias("expected_reward"),
                     F.round(F.sum(F.coalesce(F.col("oracle"), F.lit(0.0))), _DIGITS)
                     .alias("oracle_reward")))
    realized_df = (redeems_df.join(impressions_df.select("date", "user_id", "promotion_id").distinct(),
                                   on=["date", "user_id", "promotion_id"], how="left_semi")
                   .groupBy("date").agg(F.count(F.lit(1)).alias("realized_rewards")))
    return (dates_df.select("date")
            .join(users_df, on="date", how="left").join(realized_df, on="date", how="left")
            .select("date",
                    F.coalesce("shown_users", F.lit(0)).cast("long").alias("shown_users"),
                    F.coalesce("impressions", F.lit(0)).cast("long").alias("impressions"),
                    F.coalesce("expected_reward", F.lit(0.0)).alias("expected_reward"),
                    F.coalesce("oracle_reward", F.lit(0.0)).alias("oracle_reward"),
                    F.coalesce("realized_rewards", F.lit(0)).cast("long").alias("realized_rewards")))


def with_loop_columns(daily_df: DataFrame, policy: str, run_id: str, first_run_date: dt.date
                      ) -> DataFrame:
    """`loop_results` rows from :func:`daily_rewards` (date = the day shown = run_date + 1).

    Returns:
        The columns of schemas.loop.LOOP_RESULTS, in order.
    """
    run_date = F.date_sub(F.col("date"), 1)
    running = (Window.partitionBy("policy").orderBy("loop_day")
               .rowsBetween(Window.unboundedPreceding, Window.currentRow))
    return (daily_df
            .withColumn("policy", F.lit(policy))
            .withColumn("run_date", run_date)
            .withColumn("loop_day", (F.datediff(run_date, F.lit(first_run_date)) + 1).cast("int"))
            .withColumn("regret", F.round(F.col("oracle_reward") - F.col("expected_reward"), _DIGITS))
            .withColumn("cumulative_reward", F.round(F.sum("expected_reward").over(running), _DIGITS))
            .withColumn("cumulative_regret", F.round(F.sum("regret").over(running), _DIGITS))
            .select(F.lit(run_id).alias("run_id"), "policy", "loop_day", "run_date", "shown_users",
                    "impressions", "expected_reward", "oracle_reward", "regret", "realized_rewards",
                    "cumulative_reward", "cumulative_regret"))


def measure_policy(spark: SparkSession, landing_root: str, run_dates: Sequence[dt.date], policy: str,
                   run_id: str) -> DataFrame:
    """`loop_results` rows of one policy's loop over ``run_dates`` (its landing folder)."""
    shown = [d + dt.timedelta(days=1) for d in run_dates]
    impressions_df, redeems_df = shown_events(spark, landing_root, shown)
    daily_df = daily_rewards(impressions_df, redeems_df, read_truth(spark, landing_root, "response"),
                             active_promotions(spark, landing_root, shown),
                             spark.createDataFrame([(d,) for d in shown], "date date"))
    return with_loop_columns(daily_df, policy, run_id, run_dates[0])
