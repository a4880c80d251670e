"""Point-in-time features for (user, promotion) probes: only events strictly before the probe.

A *probe* is a (user, promotion) pair at an instant: a logged impression when training, or a
candidate pair at the end of the run date when scoring. Both go through the same code, so the
model sees identically built features in training and serving.

Probe columns: probe_id, user_id, promotion_id, probe_time (history is read strictly before
it), probe_date (the calendar date for promotion dates: the impression's date, or the run
date when scoring), position.

Every history feature is a window sum over a timeline of events plus probes, with the frame
``rangeBetween(unboundedPreceding, -1)`` on microseconds: rows at the probe's own instant or
later can never be counted (the leakage guard, tested in tests/response/test_training_features).
"""
from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from recsys_spark.domain.events import INTEREST_EVENT_TYPES, PROMO_IMPRESSION, PROMO_REDEEM, top_level

FRACTION_PROMO_TYPES = ("percent_off", "coupon")
PROBE_COLUMNS = ["probe_id", "user_id", "promotion_id", "probe_time", "probe_date", "position"]

# Always available (built from events and promotions alone).
BASE_NUMERIC = (
    "position",
    "u_log_item_events", "u_log_purchases", "u_log_spend", "u_days_since_purchase",
    "u_log_impressions", "u_response_rate",
    "up_log_exposures", "up_log_responses",
    "ut_log_impressions", "ut_response_rate",
    "u_category_share",
    "p_budget_used_share", "discount_fraction", "log_discount_eur", "log_min_spend",
    "days_left", "days_since_start", "is_targeted",
)
BASE_CATEGORICAL = ("promo_type",)


def _before(*keys: str) -> Window:
    """Rows of the same keys strictly earlier in time (microseconds) than the current row."""
    return (Window.partitionBy(*keys).orderBy("t_us")
            .rangeBetween(Window.unboundedPreceding, -1))


def with_promotion_features(probes_df: DataFrame, promotions_df: DataFrame) -> DataFrame:
    """Probes joined (inner: an unknown promotion cannot be featurised) to their promotion's
    static attributes, plus date features as of ``probe_date``. Returns probe columns, promo_type,
    eligible_categories, budget, discount_fraction, log_discount_eur, log_min_spend, days_left,
    days_since_start, is_targeted."""
    promo_df = promotions_df.select(
        "promotion_id", "promo_type", "discount_value", "min_spend", "start_date", "end_date",
        "budget", F.array_distinct(F.coalesce("eligible_categories", F.array().cast("array<string>")))
        .alias("eligible_categories"))
    is_fraction = F.col("promo_type").isin(*FRACTION_PROMO_TYPES)
    value = F.coalesce(F.col("discount_value"), F.lit(0.0))
    # The promotions table is one row per promotion (tens to thousands): broadcast it.
    return (probes_df.join(F.broadcast(promo_df), on="promotion_id", how="inner")
            .select(*PROBE_COLUMNS, "promo_type", "eligible_categories", "budget",
                    F.when(is_fraction, value).otherwise(0.0).alias("discount_fraction"),
                    F.when(is_fraction, 0.0).otherwise(F.log1p(F.greatest(value, F.lit(0.0))))
                    .alias("log_discount_eur"),
                    F.log1p(F.greatest(F.coalesce("min_spend", F.lit(0.0)), F.lit(0.0)))
                    .alias("log_min_spend"),
                    F.datediff("end_date", "probe_date").cast("double").alias("days_left"),
                    F.datediff("probe_date", "start_date").cast("double").alias("days_since_start"),
                    (F.size("eligible_categories") > 0).cast("double").alias("is_targeted")))


def user_history_features(probes_df: DataFrame, events_df: DataFrame, promotions_df: DataFrame,
                          label_events: Sequence[str], lookback_days: int) -> DataFrame:
    """probe_id and the user, user x promotion (fatigue) and user x promotion-type history
    features, each from events strictly before the probe's time."""
    promo_types_df = F.broadcast(promotions_df.select("promotion_id", "promo_type"))
    is_purchase = F.col("event_type") == "purchase"
    events_tl = (events_df
                 .filter(F.col("user_id").isNotNull() & F.col("event_time").isNotNull()
                         & (F.col("event_type").isin(*INTEREST_EVENT_TYPES, PROMO_IMPRESSION, *label_events)))
                 .join(promo_types_df, on="promotion_id", how="left")
                 .select("user_id", "promotion_id", "promo_type",
                         F.unix_micros("event_time").alias("t_us"),
                         F.lit(None).cast("string").alias("probe_id"),
                         F.col("event_type").isin(*INTEREST_EVENT_TYPES).cast("int").alias("is_item"),
                         (F.col("event_type").isin(*INTEREST_EVENT_TYPES) & F.col("category").isNotNull())
                         .cast("int").alias("is_cat_item"),
                         is_purchase.cast("int").alias("is_purchase"),
                         F.when(is_purchase, F.coalesce("price", F.lit(0.0))
                                * F.coalesce("quantity", F.lit(1))).otherwise(0.0).alias("spend"),
                         F.when(is_purchase, F.unix_micros("event_time")).alias("purchase_us"),
                         ((F.col("event_type") == PROMO_IMPRESSION)
                          & F.col("promotion_id").isNotNull()).cast("int").alias("is_imp"),
                         (F.col("event_type").isin(*label_events)
                          & F.col("promotion_id").isNotNull()).cast("int").alias("is_resp")))
    probe_tl = probes_df.join(promo_types_df, on="promotion_id", how="left").select(
        "user_id", "promotion_id", "promo_type", F.unix_micros("probe_time").alias("t_us"),
        "probe_id", *[F.lit(0).alias(c) for c in ("is_item", "is_cat_item", "is_purchase")],
        F.lit(0.0).alias("spend"), F.lit(None).cast("long").alias("purchase_us"),
        F.lit(0).alias("is_imp"), F.lit(0).alias("is_resp"))
    by_user, by_pair, by_type = _before("user_id"), _before("user_id", "promotion_id"), \
        _before("user_id", "promo_type")
    days_since = (F.col("t_us") - F.max("purchase_us").over(by_user)) / F.lit(86_400 * 1_000_000)
    hist_df = (events_tl.unionByName(probe_tl)
               .select("probe_id", "t_us",
                       F.coalesce(F.sum("is_item").over(by_user), F.lit(0)).alias("n_item"),
                       F.coalesce(F.sum("is_cat_item").over(by_user), F.lit(0)).alias("n_cat_item"),
                       F.coalesce(F.sum("is_purchase").over(by_user), F.lit(0)).alias("n_purchase"),
                       F.coalesce(F.sum("spend").over(by_user), F.lit(0.0)).alias("spend_sum"),
                       F.least(F.coalesce(days_since, F.lit(float(lookback_days))),
                               F.lit(float(lookback_days))).alias("u_days_since_purchase"),
                       F.coalesce(F.sum("is_imp").over(by_user), F.lit(0)).alias("n_imp"),
                       F.coalesce(F.sum("is_resp").over(by_user), F.lit(0)).alias("n_resp"),
                       F.coalesce(F.sum("is_imp").over(by_pair), F.lit(0)).alias("n_pair_imp"),
                       F.coalesce(F.sum("is_resp").over(by_pair), F.lit(0)).alias("n_pair_resp"),
                       F.coalesce(F.sum("is_imp").over(by_type), F.lit(0)).alias("n_type_imp"),
                       F.coalesce(F.sum("is_resp").over(by_type), F.lit(0)).alias("n_type_resp"))
               .filter(F.col("probe_id").isNotNull()))
    return hist_df.select(
        "probe_id", "n_cat_item",
        F.log1p("n_item").alias("u_log_item_events"),
        F.log1p("n_purchase").alias("u_log_purchases"),
        F.log1p("spend_sum").alias("u_log_spend"),
        "u_days_since_purchase",
        F.log1p("n_imp").alias("u_log_impressions"),
        (F.col("n_resp") / (F.col("n_imp") + 1)).alias("u_response_rate"),
        F.log1p("n_pair_imp").alias("up_log_exposures"),
        F.log1p("n_pair_resp").alias("up_log_responses"),
        F.log1p("n_type_imp").alias("ut_log_impressions"),
        (F.col("n_type_resp") / (F.col("n_type_imp") + 1)).alias("ut_response_rate"))


def category_counts(promo_probes_df: DataFrame, events_df: DataFrame) -> DataFrame:
    """probe_id, n_eligible_items: the user's item events strictly before the probe in one of the
    promotion's eligible top-level categories (probes of untargeted promotions are absent)."""
    item_tl = (events_df
               .filter(F.col("user_id").isNotNull() & F.col("event_type").isin(*INTEREST_EVENT_TYPES)
                       & F.col("category").isNotNull() & F.col("event_time").isNotNull())
               .select("user_id", top_level(F.col("category")).alias("top_category"),
                       F.unix_micros("event_time").alias("t_us"),
                       F.lit(None).cast("string").alias("probe_id"), F.lit(1).alias("is_item")))
    # One row per (probe, eligible category): linear in probes x eligible categories (a handful).
    probe_tl = promo_probes_df.select(
        "user_id", F.explode("eligible_categories").alias("top_category"),
        F.unix_micros("probe_time").alias("t_us"), "probe_id", F.lit(0).alias("is_item"))
    return (item_tl.unionByName(probe_tl)
            .withColumn("n", F.coalesce(F.sum("is_item").over(_before("user_id", "top_category")),
                                        F.lit(0)))
            .filter(F.col("probe_id").isNotNull())
            .groupBy("probe_id").agg(F.sum("n").alias("n_eligible_items")))


def budget_used(promo_probes_df: DataFrame, events_df: DataFrame) -> DataFrame:
    """promotion_id, t_us, p_budget_used_share: redemptions strictly before t_us over the budget
    (capped at 1; 0 when the budget is unknown), one row per distinct (promotion, probe instant).

    Distinct instants, not probes, enter the window: at scoring every user shares one instant, so
    a per-promotion window over probes would put all users of a promotion in one task.
    """
    keys_df = promo_probes_df.select("promotion_id", "budget",
                                     F.unix_micros("probe_time").alias("t_us")).distinct()
    redeem_tl = (events_df.filter((F.col("event_type") == PROMO_REDEEM)
                                  & F.col("promotion_id").isNotNull() & F.col("event_time").isNotNull())
                 .select("promotion_id", F.lit(None).cast("long").alias("budget"),
                         F.unix_micros("event_time").alias("t_us"), F.lit(1).alias("is_redeem"),
                         F.lit(False).alias("is_key")))
    key_tl = keys_df.select("promotion_id", "budget", "t_us", F.lit(0).alias("is_redeem"),
                            F.lit(True).alias("is_key"))
    share = F.coalesce(F.sum("is_redeem").over(_before("promotion_id")), F.lit(0)) / F.col("budget")
    return (redeem_tl.unionByName(key_tl)
            .withColumn("p_budget_used_share",
                        F.when(F.col("budget") > 0, F.least(share, F.lit(1.0))).otherwise(0.0))
            .filter(F.col("is_key"))
            .select("promotion_id", "t_us", "p_budget_used_share"))


def event_features(probes_df: DataFrame, events_df: DataFrame, promotions_df: DataFrame,
                   label_events: Sequence[str], lookback_days: int) -> DataFrame:
    """Probe columns plus eligible_categories and every BASE_NUMERIC / BASE_CATEGORICAL feature.

    ``events_df`` may hold events after the probes: they are never counted. Probes of promotions
    missing from ``promotions_df`` are dropped.
    """
    promo_probes_df = with_promotion_features(probes_df, promotions_df)
    history_df = user_history_features(probes_df, events_df, promotions_df, label_events,
                                       lookback_days)
    counts_df = category_counts(promo_probes_df.filter(F.size("eligible_categories") > 0), events_df)
    budget_df = budget_used(promo_probes_df, events_df)
    share = F.when(F.size("eligible_categories") == 0,
                   F.when(F.col("n_cat_item") > 0, 1.0).otherwise(0.0)) \
        .otherwise(F.coalesce(F.try_divide(F.col("n_eligible_items"), F.col("n_cat_item")), F.lit(0.0)))
    return (promo_probes_df
            .withColumn("t_us", F.unix_micros("probe_time"))
            .join(history_df, on="probe_id", how="left")
            .join(counts_df, on="probe_id", how="left")
            .join(budget_df, on=["promotion_id", "t_us"], how="left")
            .withColumn("u_category_share", share)
            .withColumn("position", F.col("position").cast("double"))
            .select(*PROBE_COLUMNS, "eligible_categories", *BASE_CATEGORICAL,
                    *[c for c in BASE_NUMERIC if c != "position"]))
