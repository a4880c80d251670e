"""Post-conditions of a run's `user_promotions`, checked before it is published."""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recsys_spark.settings.bandit import BanditConfig


def constraint_checks(out_df: DataFrame, servable_df: DataFrame, config: BanditConfig) -> dict[str, str]:
    """Post-conditions on the output, from two small aggregates: pass / fail: why.

    Args:
        servable_df: promotion_id, promo_type, remaining_budget (null = unlimited) of the
            promotions that may be served on the run date.
    """
    meta_df = out_df.filter(~F.col("is_holdout")).join(
        servable_df.select("promotion_id", "promo_type", "remaining_budget",
                           F.lit(True).alias("is_servable")), on="promotion_id", how="left")
    users = meta_df.groupBy("user_id").agg(
        F.count(F.lit(1)).alias("n"), F.countDistinct("promotion_id").alias("d"),
        F.countDistinct("promo_type").alias("t")).agg(
        F.max("n").alias("max_n"),
        F.sum(F.when(F.col("n") != F.col("d"), 1).otherwise(0)).alias("dups"),
        F.sum(F.when(F.col("n") != F.col("t"), 1).otherwise(0)).alias("type_dups")).first()
    over = (meta_df.groupBy("promotion_id", "remaining_budget", "is_servable")
            .agg(F.sum("expected_redemptions").alias("spent"))
            .filter(F.col("is_servable").isNull()
                    | (F.col("spent") > F.col("remaining_budget") + 1e-6)).count())
    checks = {
        "slots_per_user": "pass" if (users["max_n"] or 0) <= config.slots_per_user
        else f"fail: a user has {users['max_n']} rows",
        "no_duplicate_promotion": "pass" if not users["dups"] else f"fail: {users['dups']} users",
        "budget": "pass" if over == 0 else f"fail: {over} promotions over budget or ineligible"}
    if config.one_per_promo_type:
        checks["one_per_promo_type"] = ("pass" if not users["type_dups"]
                                        else f"fail: {users['type_dups']} users")
    return checks
