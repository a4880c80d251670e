"""What a promotion is and when it may be served: its types, active on the day, with budget
left. Defined once.

- Types (:data:`PROMO_TYPES`): percent_off and coupon take ``discount_value`` as a fraction of
  the basket (:data:`FRACTION_PROMO_TYPES`); amount_off_over_threshold, gift and free_shipping
  as an amount in EUR (the discount, the gift's value, the shipping saved), for a basket of at
  least ``min_spend``.

- Active on day D: ``start_date <= D <= end_date``; a null start or end leaves that side open.
- ``budget`` is the maximum number of redemptions; **null means unlimited** (never exhausted).
- Spent = the promotion's ``promo_redeem`` events up to and including D (events are unique by
  event_id, so a count of rows is a count of redemptions). Redemptions can only happen while a
  promotion runs, so a reader needs only the events from the earliest active start date on
  (:func:`spend_start`).
- Remaining budget = budget - spent (null when unlimited); a promotion with budget left has a
  null budget or remaining > 0.
- Targeting: a promotion with eligible (top-level) categories is for users who have interacted
  with one of them (:func:`user_categories`); no eligible categories = everyone
  (:func:`is_targeted_at`). The response stage scores only such pairs; the bandit's audit
  refuses to publish any other.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from recsys_spark.domain.events import INTEREST_EVENT_TYPES, PROMO_REDEEM, top_level

PERCENT_OFF, AMOUNT_OFF_OVER_THRESHOLD, GIFT, FREE_SHIPPING, COUPON = (
    "percent_off", "amount_off_over_threshold", "gift", "free_shipping", "coupon")
PROMO_TYPES: tuple[str, ...] = (PERCENT_OFF, AMOUNT_OFF_OVER_THRESHOLD, GIFT, FREE_SHIPPING, COUPON)
# Types whose discount_value is a fraction of the basket (0 < value <= 1).
FRACTION_PROMO_TYPES: tuple[str, ...] = (PERCENT_OFF, COUPON)


def is_active(run_date: dt.date) -> Column:
    """True for promotions running on ``run_date`` (null start/end: open on that side)."""
    day = F.lit(run_date)
    return (F.coalesce(F.col("start_date") <= day, F.lit(True))
            & F.coalesce(F.col("end_date") >= day, F.lit(True)))


def spend_start(promotions_df: DataFrame, run_date: dt.date) -> dt.date | None:
    """The first day whose redemptions can count against a budget on ``run_date``: the earliest
    start date of the promotions active then (``run_date`` itself when none is active). None
    when an active promotion has no start date: its spend needs the whole history. One small
    aggregate over the promotions (tens of rows)."""
    row = (promotions_df.filter(is_active(run_date))
           .agg(F.count(F.lit(1)).alias("n"), F.count("start_date").alias("dated"),
                F.min("start_date").alias("first")).first())
    if row is None or row["n"] == 0:
        return run_date
    return None if row["dated"] < row["n"] else min(row["first"], run_date)


def redemptions(events_df: DataFrame, run_date: dt.date) -> DataFrame:
    """promotion_id, redeemed: promo_redeem events per promotion up to and including
    ``run_date``."""
    return (events_df.filter((F.col("event_type") == PROMO_REDEEM) & F.col("promotion_id").isNotNull()
                             & (F.col("event_date") <= F.lit(run_date)))
            .groupBy("promotion_id").agg(F.count(F.lit(1)).alias("redeemed")))


def servable_promotions(promotions_df: DataFrame, events_df: DataFrame, run_date: dt.date) -> DataFrame:
    """Promotions active on ``run_date`` with budget left.

    Args:
        events_df: events holding at least every promo_redeem since :func:`spend_start`.

    Returns:
        promotion_id, promo_type, eligible_categories (distinct, never null), budget, redeemed,
        remaining_budget (double; null = unlimited).
    """
    spent = F.coalesce(F.col("redeemed"), F.lit(0))
    remaining = F.col("budget").cast("double") - spent.cast("double")
    return (promotions_df.filter(is_active(run_date))
            .join(redemptions(events_df, run_date), on="promotion_id", how="left")
            .select("promotion_id", "promo_type",
                    F.array_distinct(F.coalesce("eligible_categories",
                                                F.array().cast("array<string>"))).alias("eligible_categories"),
                    "budget", spent.cast("long").alias("redeemed"),
                    remaining.alias("remaining_budget"))
            .filter(F.col("remaining_budget").isNull() | (F.col("remaining_budget") > 0)))


def user_categories(events_df: DataFrame, latest_features_df: DataFrame | None,
                    run_date: dt.date) -> DataFrame:
    """user_id, categories: the top-level categories the user has interacted with (events up
    to ``run_date``), plus the top categories of the latest user_features snapshot if given."""
    from_events_df = (events_df
                      .filter(F.col("user_id").isNotNull()
                              & F.col("event_type").isin(*INTEREST_EVENT_TYPES)
                              & F.col("category").isNotNull()
                              & (F.col("event_date") <= F.lit(run_date)))
                      .select("user_id", top_level(F.col("category")).alias("category")))
    parts = [from_events_df]
    if latest_features_df is not None:
        parts.append(latest_features_df.select(
            "user_id", F.explode(F.transform("top_categories", top_level)).alias("category")))
    union_df = parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1])
    return union_df.groupBy("user_id").agg(F.array_sort(F.collect_set("category")).alias("categories"))


def is_targeted_at(eligible_categories: Column, categories: Column) -> Column:
    """True when a promotion with ``eligible_categories`` may go to a user with ``categories``
    (from :func:`user_categories`; null = none known): no eligible categories, or an overlap."""
    return ((F.size(eligible_categories) == 0)
            | F.coalesce(F.arrays_overlap(eligible_categories, categories), F.lit(False)))
