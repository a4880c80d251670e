"""The audit of a run's `user_promotions` before it is published: hard constraints and invariants,
re-checked from the inputs, independently of how the rows were chosen.

Each row gets the reasons it breaks (none for a good row):

==========================  ================================================================
slot_duplicate              the user has two rows with this rank
too_many_slots              the user has more than ``slots_per_user`` promotions
propensity_out_of_range     propensity null or outside (0, 1]
duplicate_promotion         the promotion twice for the user
two_of_one_type             two promotions of one promo type for the user (one_per_promo_type)
not_servable                the promotion is not active on the run date or has no budget left
over_budget                 the promotion's expected redemptions exceed its remaining budget
frequency_cap               the user was shown it >= frequency_cap_impressions times in the
                            last frequency_cap_days days
ineligible_category         a targeted promotion for a user without any of its categories
                            (domain/promotions.py; only when response.targeting says so)
holdout_treated             a user of the stable holdout with a promotion, or a holdout row
                            of a user outside it
==========================  ================================================================

A run with any such row publishes nothing (the stage raises ConstraintViolationError: exit 3);
the rows go to `user_promotions_quarantine` with their reasons.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from recsys_spark.bandit.constraints import holdout_flag
from recsys_spark.domain.events import PROMO_IMPRESSION
from recsys_spark.domain.promotions import is_targeted_at
from recsys_spark.errors import DataQualityError
from recsys_spark.settings.bandit import BanditConfig

REASONS: tuple[str, ...] = ("slot_duplicate", "too_many_slots", "propensity_out_of_range",
                            "duplicate_promotion", "two_of_one_type", "not_servable", "over_budget",
                            "frequency_cap", "ineligible_category", "holdout_treated")
OUTPUT_COLUMNS = ("user_id", "rank", "promotion_id", "policy", "score", "expected_response",
                  "propensity", "is_exploration", "is_holdout")
# Slack on the budget sum: the allocation compares running sums of doubles.
BUDGET_TOLERANCE = 1e-6


class ConstraintViolationError(DataQualityError):
    """The run's promotions break a hard constraint; nothing was published."""

    label = "constraint gate failed"


def impression_counts(events_df: DataFrame, run_date: dt.date, config: BanditConfig) -> DataFrame:
    """user_id, promotion_id, shown: impressions in the frequency-cap window (run date included)."""
    since = run_date - dt.timedelta(days=config.frequency_cap_days - 1)
    return (events_df.filter((F.col("event_type") == PROMO_IMPRESSION)
                             & F.col("event_date").between(F.lit(since), F.lit(run_date))
                             & F.col("user_id").isNotNull() & F.col("promotion_id").isNotNull())
            .groupBy("user_id", "promotion_id").agg(F.count(F.lit(1)).alias("shown")))


def with_violations(out_df: DataFrame, servable_df: DataFrame, shown_df: DataFrame,
                    categories_df: DataFrame | None, config: BanditConfig, holdout_seed: int
                    ) -> DataFrame:
    """``out_df`` with ``reasons`` (array<string>, in REASONS order; empty for a good row).

    Args:
        out_df: the run's rows (OUTPUT_COLUMNS plus expected_redemptions).
        servable_df: promotion_id, promo_type, eligible_categories, remaining_budget of the
            promotions servable on the run date (domain/promotions.servable_promotions).
        shown_df: from :func:`impression_counts`.
        categories_df: user_id, categories (domain/promotions.user_categories); None skips the
            category check (targeting off).
        holdout_seed: the seed of the stable control group (run.seed).
    """
    user_w = Window.partitionBy("user_id")
    promos_df = servable_df.select("promotion_id", "promo_type", "eligible_categories",
                                   "remaining_budget", F.lit(True).alias("_servable"))
    df = (out_df.join(F.broadcast(promos_df), on="promotion_id", how="left")
          .join(shown_df, on=["user_id", "promotion_id"], how="left"))
    if categories_df is not None:
        df = df.join(categories_df.select("user_id", "categories"), on="user_id", how="left")
    has_promo = F.col("promotion_id").isNotNull()
    in_holdout = holdout_flag(holdout_seed) < F.lit(config.holdout_share)
    promo_rows = F.sum(has_promo.cast("int")).over(user_w)
    same_rank = F.count(F.lit(1)).over(Window.partitionBy("user_id", "rank"))
    same_promo = F.count(F.lit(1)).over(Window.partitionBy("user_id", "promotion_id"))
    same_type = F.count(F.lit(1)).over(Window.partitionBy("user_id", "promo_type"))
    planned = F.sum("expected_redemptions").over(Window.partitionBy("promotion_id"))
    checks: dict[str, Column] = {
        "slot_duplicate": same_rank > 1,
        "too_many_slots": promo_rows > config.slots_per_user,
        "propensity_out_of_range": ~F.coalesce((F.col("propensity") > 0) & (F.col("propensity") <= 1),
                                               F.lit(False)),
        "duplicate_promotion": has_promo & (same_promo > 1),
        "two_of_one_type": F.lit(config.one_per_promo_type) & has_promo
        & F.col("promo_type").isNotNull() & (same_type > 1),
        "not_servable": has_promo & F.col("_servable").isNull(),
        "over_budget": has_promo & F.coalesce(
            planned > F.col("remaining_budget") + F.lit(BUDGET_TOLERANCE), F.lit(False)),
        "frequency_cap": has_promo & F.coalesce(F.col("shown") >= config.frequency_cap_impressions,
                                                F.lit(False)),
        "ineligible_category": (has_promo & F.col("_servable").isNotNull()
                                & ~is_targeted_at(F.col("eligible_categories"), F.col("categories")))
        if categories_df is not None else F.lit(False),
        "holdout_treated": (in_holdout & (has_promo | ~F.col("is_holdout")))
        | (~in_holdout & F.col("is_holdout")),
    }
    reasons = F.filter(F.array(*[F.when(checks[name], F.lit(name)) for name in REASONS]),
                       lambda reason: reason.isNotNull())
    return df.select(*OUTPUT_COLUMNS, "expected_redemptions", reasons.alias("reasons"))


def violation_summary(checked_df: DataFrame) -> dict[str, tuple[int, str]]:
    """reason -> (rows, an example "user/promotion") over the rows with reasons; one small
    aggregate (at most one row per reason)."""
    rows = (checked_df.filter(F.size("reasons") > 0)
            .select(F.explode("reasons").alias("reason"), "user_id", "promotion_id")
            .groupBy("reason")
            .agg(F.count(F.lit(1)).alias("rows"),
                 F.min(F.concat_ws("/", "user_id", F.coalesce("promotion_id", F.lit("-"))))
                 .alias("example"))
            .collect())
    return {r["reason"]: (int(r["rows"]), r["example"]) for r in rows}


def check_results(summary: dict[str, tuple[int, str]], has_categories: bool,
                  config: BanditConfig) -> dict[str, str]:
    """`pipeline_runs.quality` entries: each check -> pass / fail: N rows (e.g. user/promotion)."""
    checked = [r for r in REASONS
               if (r != "ineligible_category" or has_categories)
               and (r != "two_of_one_type" or config.one_per_promo_type)]
    return {name: (f"fail: {summary[name][0]} rows (e.g. {summary[name][1]})" if name in summary
                   else "pass") for name in checked}


def violation_message(summary: dict[str, tuple[int, str]], run_date: dt.date, table: str) -> str:
    """The one-line report of a stopped publish."""
    total = ", ".join(f"{name} {summary[name][0]} rows (e.g. {summary[name][1]})"
                      for name in REASONS if name in summary)
    return (f"bandit {run_date}: user_promotions breaks hard constraints, nothing was published: "
            f"{total}; the rows and their reasons are in {table} (run_date {run_date})")
