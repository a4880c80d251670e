"""Promotion budgets, enforced by the simulated shop: a redemption past the budget is refused.

A promotion's ``budget`` is its maximum number of redemptions (the meaning domain/promotions.py
gives it). The shop accepts a promotion's redemptions in generation order: the days of earlier
`generate`/`respond` calls first, within one call by event time (ties by event key), while the
accepted ones so far stay within the budget. Every later attempt is refused: it is in neither
the raw logs nor ``true_events``; it is listed under ``_ground_truth/refused_redeems/`` with the
budget and the spend before it, and ``_ground_truth/budget_ledger/`` holds per generated day and
promotion the attempted, accepted and refused redemptions, so the next call knows the spend so
far. (The click before a refused redemption still happened: the user tried.)
"""
from __future__ import annotations

import datetime as dt

import pandas as pd
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from recsys_spark.simulate.landing import Landing
from recsys_spark.simulate.truth import TRUTH_DIR, has_truth, read_truth, truth_uri

LEDGER = "budget_ledger"
REFUSED = "refused_redeems"
REDEEM = "promo_redeem"


def budgets_frame(spark: SparkSession, promos: pd.DataFrame) -> DataFrame:
    """promotion_id, budget (long; null = unlimited) of the world's promotions (tens of rows)."""
    rows = [(str(p), None if pd.isna(b) else int(b))
            for p, b in zip(promos["promotion_id"], promos["budget"], strict=True)]
    return spark.createDataFrame(rows, "promotion_id string, budget long")


def spend_before(spark: SparkSession, landing_root: str, day: dt.date) -> DataFrame:
    """promotion_id, spent: redemptions the shop accepted on generated days before ``day``
    (from the ledger; no rows when nothing was generated before)."""
    if not has_truth(landing_root, LEDGER):
        return spark.createDataFrame([], "promotion_id string, spent long")
    return (read_truth(spark, landing_root, LEDGER).filter(F.col("gen_date") < F.lit(day))
            .groupBy("promotion_id").agg(F.sum("accepted").cast("long").alias("spent")))


def redeem_attempts(events_df: DataFrame, budgets_df: DataFrame, spent_df: DataFrame) -> DataFrame:
    """Every redemption of ``events_df`` with the shop's verdict.

    Args:
        events_df: generated events (event_id, event_key, event_ms, gen_date, event_type,
            user_id, promotion_id).
        budgets_df: from :func:`budgets_frame`.
        spent_df: from :func:`spend_before`.

    Returns:
        event_id, user_id, promotion_id, event_time, gen_date, budget, spent_before, attempt
        (1 = the promotion's first redemption of this call), is_refused
        (``spent_before + attempt > budget``; never for an unlimited budget).
    """
    order = Window.partitionBy("promotion_id").orderBy("event_ms", "event_key")
    return (events_df.filter((F.col("event_type") == REDEEM) & F.col("promotion_id").isNotNull())
            .join(F.broadcast(budgets_df), on="promotion_id", how="left")
            .join(F.broadcast(spent_df), on="promotion_id", how="left")
            .withColumn("spent_before", F.coalesce(F.col("spent"), F.lit(0)).cast("long"))
            .withColumn("attempt", F.row_number().over(order).cast("long"))
            .select("event_id", "user_id", "promotion_id",
                    F.timestamp_millis("event_ms").alias("event_time"), "gen_date", "budget",
                    "spent_before", "attempt",
                    F.coalesce(F.col("spent_before") + F.col("attempt") > F.col("budget"),
                               F.lit(False)).alias("is_refused")))


def ledger_rows(attempts_df: DataFrame) -> DataFrame:
    """gen_date, promotion_id, budget, attempted, accepted, refused (longs) per generated day
    and promotion with at least one attempt."""
    refused = F.col("is_refused").cast("long")
    return (attempts_df.groupBy("gen_date", "promotion_id", "budget")
            .agg(F.count(F.lit(1)).alias("attempted"), F.sum(1 - refused).alias("accepted"),
                 F.sum(refused).alias("refused"))
            .select("promotion_id", "budget", "attempted", "accepted", "refused", "gen_date"))


def write_budget_truth(landing: Landing, attempts_df: DataFrame, gen_dates: list[dt.date]) -> int:
    """Replace the ledger and the refused redemptions of ``gen_dates`` in the ground truth.

    Returns:
        The number of refused redemptions.
    """
    for name in (LEDGER, REFUSED):
        for day in gen_dates:
            landing.delete(f"{TRUTH_DIR}/{name}/gen_date={day.isoformat()}")
    (ledger_rows(attempts_df).write.mode("append").partitionBy("gen_date")
     .parquet(truth_uri(landing.root, LEDGER)))
    refused_df = attempts_df.filter(F.col("is_refused")).drop("is_refused")
    refused_df.write.mode("append").partitionBy("gen_date").parquet(truth_uri(landing.root, REFUSED))
    return int(attempts_df.filter(F.col("is_refused")).count())
