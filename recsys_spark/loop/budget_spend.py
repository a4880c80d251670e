"""Realized spend against budget per promotion over a closed loop, from the simulator's ground truth.

A promotion's budget is its maximum number of redemptions (domain/promotions.py). The simulated
shop accepts redemptions while the accepted ones stay within the budget and refuses the rest
(simulate/budgets.py), so ``spent <= budget`` holds by construction; this module measures it
from the shop's events rather than from its own ledger:

* ``spent_before`` = accepted redemptions (true ``promo_redeem`` events) generated before the
  loop's first shown day (the warm-up's share of the budget);
* ``accepted`` / ``refused`` = redemptions the shop accepted / refused on the loop's shown days;
* ``spent`` = spent_before + accepted, ``overspend`` = max(0, spent - budget) (0 when unlimited);
* ``exhausted_on`` = the first shown day at whose end the spend reached the budget (null: never
  within the loop, or exhausted before it: see ``spent_before``);
* ``shown_after`` = impressions of the promotion on shown days after ``exhausted_on``: what the
  bandit still showed once the budget was gone (its view of the spend lags, see docs).

Refused redemptions are what the allocation planned past the budget: without the shop's
refusal the spend would have been ``budget + refused``.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from recsys_spark.domain.events import PROMO_IMPRESSION, PROMO_REDEEM
from recsys_spark.simulate.budgets import REFUSED
from recsys_spark.simulate.truth import has_truth, read_truth, truth_uri

SPEND_COLUMNS = ["promotion_id", "budget", "spent_before", "accepted", "refused", "spent",
                 "overspend", "exhausted_on", "shown_after"]


def budget_spend(budgets_df: DataFrame, redeems_df: DataFrame, refused_df: DataFrame,
                 impressions_df: DataFrame, first_day: dt.date, last_day: dt.date) -> DataFrame:
    """Per promotion of ``budgets_df``: its budget and what the shop spent of it.

    Args:
        budgets_df: promotion_id, budget (null = unlimited).
        redeems_df: date, promotion_id: one row per accepted redemption, every generated day.
        refused_df: date, promotion_id: one row per refused redemption.
        impressions_df: date, promotion_id: one row per impression.
        first_day, last_day: the loop's first and last shown day (inclusive).

    Returns:
        The columns of SPEND_COLUMNS (longs, exhausted_on a date), one row per promotion.
    """
    in_loop = (F.col("date") >= F.lit(first_day)) & (F.col("date") <= F.lit(last_day))
    daily_df = (redeems_df.filter(F.col("date") <= F.lit(last_day))
                .groupBy("promotion_id", "date").agg(F.count(F.lit(1)).alias("n")))
    running = Window.partitionBy("promotion_id").orderBy("date").rowsBetween(
        Window.unboundedPreceding, Window.currentRow)
    # Tens of promotions x days: a window per promotion is small.
    exhausted_df = (daily_df.join(budgets_df, on="promotion_id", how="inner")
                    .withColumn("_cum", F.sum("n").over(running))
                    .filter(in_loop & (F.col("_cum") >= F.col("budget")))
                    .groupBy("promotion_id").agg(F.min("date").alias("exhausted_on")))
    spend_df = daily_df.groupBy("promotion_id").agg(
        F.sum(F.when(F.col("date") < F.lit(first_day), F.col("n")).otherwise(0)).alias("spent_before"),
        F.sum(F.when(in_loop, F.col("n")).otherwise(0)).alias("accepted"))
    refused_counts_df = (refused_df.filter(in_loop).groupBy("promotion_id")
                         .agg(F.count(F.lit(1)).alias("refused")))
    after_df = (impressions_df.filter(in_loop).join(exhausted_df, on="promotion_id", how="inner")
                .filter(F.col("date") > F.col("exhausted_on"))
                .groupBy("promotion_id").agg(F.count(F.lit(1)).alias("shown_after")))
    spent = F.col("spent_before") + F.col("accepted")
    return (budgets_df.join(spend_df, on="promotion_id", how="left")
            .join(refused_counts_df, on="promotion_id", how="left")
            .join(exhausted_df, on="promotion_id", how="left")
            .join(after_df, on="promotion_id", how="left")
            .na.fill(0, ["spent_before", "accepted", "refused", "shown_after"])
            .withColumn("spent", spent)
            .withColumn("overspend", F.coalesce(F.greatest(spent - F.col("budget"), F.lit(0)), F.lit(0)))
            .select("promotion_id", F.col("budget").cast("long"),
                    *[F.col(c).cast("long") for c in SPEND_COLUMNS[2:7]], "exhausted_on",
                    F.col("shown_after").cast("long")))


def loop_budget_spend(spark: SparkSession, landing_root: str, run_dates: Sequence[dt.date]) -> DataFrame:
    """:func:`budget_spend` of a loop over ``run_dates`` (shown days run_date + 1) from the ground
    truth of its landing folder: the world's promotions, true events and refused redemptions."""
    budgets_df = spark.read.parquet(truth_uri(landing_root, "promotions.parquet")).select(
        "promotion_id", F.col("budget").cast("long"))
    events_df = (read_truth(spark, landing_root, "true_events")
                 .filter(F.col("promotion_id").isNotNull())
                 .select(F.col("gen_date").alias("date"), "promotion_id", "event_type"))
    # Nothing refused yet leaves the folder without data files: read with the schema.
    refused_df = spark.createDataFrame([], "promotion_id string, date date")
    if has_truth(landing_root, REFUSED):
        refused_df = (spark.read.schema("promotion_id string, gen_date date")
                      .parquet(truth_uri(landing_root, REFUSED))
                      .select("promotion_id", F.col("gen_date").alias("date")))
    shown = [d + dt.timedelta(days=1) for d in run_dates]

    def of_type(event_type: str) -> DataFrame:
        return events_df.filter(F.col("event_type") == event_type).select("date", "promotion_id")

    return budget_spend(budgets_df, of_type(PROMO_REDEEM), refused_df, of_type(PROMO_IMPRESSION),
                        min(shown), max(shown))
