"""user_features: per known user as of the run date.

RFM over the configured windows, category affinity, price paid and promotion sensitivity,
responsiveness per promotion type and activity level. One pass of aggregations over the
lookback's events (conditional sums per window instead of one scan per window).
"""
from __future__ import annotations

import datetime as dt
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from recsys_spark.domain.events import (
    ITEM_EVENT_TYPES,
    PROMO_CLICK,
    PROMO_IMPRESSION,
    PROMO_REDEEM,
    top_level,
)
from recsys_spark.schemas.features import PROMO_TYPES
from recsys_spark.settings.features import FeaturesConfig

# Promotion events and the short names of their per-user count columns.
PROMO_COUNT_COLUMNS = {PROMO_IMPRESSION: "imp", PROMO_CLICK: "clk", PROMO_REDEEM: "red"}


def window_label(days: int) -> str:
    return f"{days}d"


def _in_window(run_date: dt.date, days: int) -> Column:
    return F.col("event_date") >= F.lit(run_date - dt.timedelta(days=days - 1))


def _purchase_value() -> Column:
    return F.col("price") * F.coalesce(F.col("quantity"), F.lit(1))


def user_activity(events_df: DataFrame, run_date: dt.date, cfg: FeaturesConfig) -> DataFrame:
    """Per user with events in the lookback: recency, per-window RFM, sessions, price paid.

    Returns columns user_id, recency_days, purchase_recency_days, frequency, monetary, events,
    ev_<w>, fr_<w>, mo_<w> per window, sessions, active_days, avg_price_paid, price_sensitivity.
    """
    is_purchase = F.col("event_type") == "purchase"
    aggs = [
        F.max("event_date").alias("last_date"),
        F.max(F.when(is_purchase, F.col("event_date"))).alias("last_purchase_date"),
        F.count_distinct("session_id").alias("sessions"),
        F.count_distinct("event_date").alias("active_days"),
        F.sum(F.when(is_purchase, F.coalesce(F.col("quantity"), F.lit(1)))).alias("units"),
        F.sum(F.when(is_purchase, _purchase_value())).alias("paid"),
        F.sum(F.when(is_purchase & F.col("promotion_id").isNotNull(), 1).otherwise(0))
        .alias("promo_purchases"),
    ]
    for days in cfg.windows_days:
        in_w = _in_window(run_date, days)
        aggs += [
            F.sum(F.when(in_w, 1).otherwise(0)).cast("long").alias(f"ev_{days}"),
            F.sum(F.when(in_w & is_purchase, 1).otherwise(0)).cast("long").alias(f"fr_{days}"),
            F.coalesce(F.sum(F.when(in_w & is_purchase, _purchase_value())), F.lit(0.0))
            .alias(f"mo_{days}"),
        ]
    longest = cfg.lookback_days
    return (events_df.groupBy("user_id").agg(*aggs)
            .select(
                "user_id",
                F.datediff(F.lit(run_date), F.col("last_date")).alias("recency_days"),
                F.datediff(F.lit(run_date), F.col("last_purchase_date")).alias("purchase_recency_days"),
                F.col(f"fr_{longest}").alias("frequency"),
                F.col(f"mo_{longest}").alias("monetary"),
                F.col(f"ev_{longest}").alias("events"),
                *[F.col(f"{p}_{d}") for d in cfg.windows_days for p in ("ev", "fr", "mo")],
                "sessions", "active_days",
                F.try_divide(F.col("paid"), F.col("units")).alias("avg_price_paid"),
                F.try_divide(F.col("promo_purchases").cast("double"), F.col(f"fr_{longest}"))
                .alias("price_sensitivity")))


def promo_counts(events_df: DataFrame, promotions_df: DataFrame | None) -> DataFrame:
    """Per (user, promo_type): impressions ``imp``, clicks ``clk``, redemptions ``red``.

    Promotion events whose promotion is unknown to the catalog (or without a catalog) are left
    out: their type, the unit of responsiveness, is unknown.
    """
    promo_df = events_df.filter(F.col("event_type").isin(*PROMO_COUNT_COLUMNS)
                                & F.col("promotion_id").isNotNull())
    if promotions_df is None:
        return promo_df.select("user_id", F.lit(None).cast("string").alias("promo_type"),
                               *[F.lit(0).cast("long").alias(a) for a in PROMO_COUNT_COLUMNS.values()]
                               ).limit(0)
    # The promotions catalog is small: broadcast it instead of shuffling the events.
    types_df = F.broadcast(promotions_df.select("promotion_id", "promo_type").distinct())
    return (promo_df.join(types_df, on="promotion_id", how="inner")
            .groupBy("user_id", "promo_type")
            .agg(*[F.sum(F.when(F.col("event_type") == t, 1).otherwise(0)).cast("long").alias(a)
                   for t, a in PROMO_COUNT_COLUMNS.items()]))


def promo_responsiveness(counts_df: DataFrame, prior_strength: float) -> DataFrame:
    """Per user: count maps per type, smoothed click/redeem rates per type and overall.

    A rate is (events + m * global_rate) / (impressions + m): empirical-Bayes shrinkage toward
    the type's rate over all users, so a user with 1 impression and 1 click is not "100 %".
    Users absent from ``counts_df`` get the global rates from :func:`global_promo_rates`.
    """
    m = F.lit(float(prior_strength))
    wide_df = (counts_df.groupBy("user_id").pivot("promo_type", list(PROMO_TYPES))
               .agg(*[F.sum(a).alias(a) for a in PROMO_COUNT_COLUMNS.values()]))
    wide_df = wide_df.crossJoin(F.broadcast(global_promo_rates(counts_df)))

    def n(promo_type: str, kind: str) -> Column:
        return F.coalesce(F.col(f"{promo_type}_{kind}"), F.lit(0)).cast("long")

    cols: list[Column] = []
    for kind, name in (("imp", "promo_impressions"), ("clk", "promo_clicks"), ("red", "promo_redeems")):
        cols.append(F.create_map(*[x for t in PROMO_TYPES for x in (F.lit(t), n(t, kind))]).alias(name))
    for t in PROMO_TYPES:
        for kind, name in (("clk", "click"), ("red", "redeem")):
            cols.append(F.try_divide(n(t, kind) + m * F.col(f"g_{t}_{kind}"), n(t, "imp") + m)
                        .alias(f"{name}_rate_{t}"))
    total = {kind: reduce(lambda a, b: a + b, [n(t, kind) for t in PROMO_TYPES])
             for kind in ("imp", "clk", "red")}
    for kind, name in (("clk", "promo_click_rate"), ("red", "promo_redeem_rate")):
        cols.append(F.try_divide(total[kind] + m * F.col(f"g_all_{kind}"), total["imp"] + m).alias(name))
    return wide_df.select("user_id", *cols)


def global_promo_rates(counts_df: DataFrame) -> DataFrame:
    """One row: g_<type>_clk, g_<type>_red (0 when the type had no impressions) and g_all_*."""
    totals = []
    for t in PROMO_TYPES:
        is_t = F.col("promo_type") == t
        imp = F.sum(F.when(is_t, F.col("imp")).otherwise(0))
        for kind in ("clk", "red"):
            totals.append(F.coalesce(F.try_divide(F.sum(F.when(is_t, F.col(kind)).otherwise(0)), imp),
                                     F.lit(0.0)).alias(f"g_{t}_{kind}"))
    for kind in ("clk", "red"):
        totals.append(F.coalesce(F.try_divide(F.sum(kind), F.sum("imp")), F.lit(0.0))
                      .alias(f"g_all_{kind}"))
    return counts_df.agg(*totals)


def category_affinity(events_df: DataFrame, top_n: int) -> DataFrame:
    """Per user: top-level categories by share of item events (share desc, category asc).

    Returns user_id, top_categories array<string>, top_category_shares array<double>.
    """
    cat_df = (events_df.filter(F.col("event_type").isin(*ITEM_EVENT_TYPES)
                               & F.col("category").isNotNull())
              .groupBy("user_id", top_level(F.col("category")).alias("top_category")).count())
    by_user = Window.partitionBy("user_id")
    ranked = Window.partitionBy("user_id").orderBy(F.col("count").desc(), F.col("top_category").asc())
    top_df = (cat_df.withColumn("share", F.col("count") / F.sum("count").over(by_user))
              .withColumn("pos", F.row_number().over(ranked))
              .filter(F.col("pos") <= top_n))
    # collect_list order is not guaranteed: sort the structs by position, then project.
    return (top_df.groupBy("user_id")
            .agg(F.sort_array(F.collect_list(F.struct("pos", "top_category", "share"))).alias("s"))
            .select("user_id", F.col("s.top_category").alias("top_categories"),
                    F.col("s.share").alias("top_category_shares")))


def known_users(events_df: DataFrame, users_df: DataFrame | None, run_date: dt.date) -> DataFrame:
    """Distinct user_id of users seen in the events plus catalog users signed up by run_date."""
    seen_df = events_df.select("user_id").distinct()
    if users_df is None:
        return seen_df
    signed_up = F.col("signup_date").isNull() | (F.col("signup_date") <= F.lit(run_date))
    catalog_df = users_df.filter(F.col("user_id").isNotNull() & signed_up)
    return seen_df.unionByName(catalog_df.select("user_id")).distinct()


def build_user_features(events_df: DataFrame, promotions_df: DataFrame | None,
                        users_df: DataFrame | None, run_date: dt.date, cfg: FeaturesConfig
                        ) -> DataFrame:
    """user_features rows (without run columns) for every known user.

    ``events_df`` must already be limited to the lookback (event_date <= run_date). Anonymous
    events (null user_id) are ignored. Users without events get zero counts, the global promotion
    rates, empty category lists and has_history = 0.
    """
    user_events_df = events_df.filter(F.col("user_id").isNotNull())
    activity_df = user_activity(user_events_df, run_date, cfg)
    counts_df = promo_counts(user_events_df, promotions_df)
    users_df_all = known_users(user_events_df, users_df, run_date)
    promo_df = promo_responsiveness(counts_df, cfg.rate_prior_strength)
    global_df = global_promo_rates(counts_df)
    cats_df = category_affinity(user_events_df, cfg.top_categories)

    joined = (users_df_all.join(activity_df, on="user_id", how="left")
              .join(promo_df, on="user_id", how="left")
              .join(cats_df, on="user_id", how="left")
              .crossJoin(F.broadcast(global_df)))

    def zero(name: str, kind: str = "long") -> Column:
        return F.coalesce(F.col(name), F.lit(0).cast(kind))

    empty_counts = F.create_map(*[x for t in PROMO_TYPES for x in (F.lit(t), F.lit(0).cast("long"))])
    windows = cfg.windows_days
    low, high = cfg.activity_days_thresholds
    active_days = zero("active_days")
    rate_cols = [F.coalesce(F.col(f"{name}_rate_{t}"), F.col(f"g_{t}_{kind}"))
                 .alias(f"{name}_rate_{t}")
                 for t in PROMO_TYPES for kind, name in (("clk", "click"), ("red", "redeem"))]
    return joined.select(
        "user_id",
        F.when(zero("events") >= cfg.min_events, 1).otherwise(0).alias("has_history"),
        "recency_days", "purchase_recency_days",
        zero("frequency").alias("frequency"),
        zero("monetary", "double").alias("monetary"),
        F.create_map(*[x for d in windows for x in (F.lit(window_label(d)), zero(f"fr_{d}"))])
        .alias("frequency_by_window"),
        F.create_map(*[x for d in windows for x in (F.lit(window_label(d)), zero(f"mo_{d}", "double"))])
        .alias("monetary_by_window"),
        zero("events").alias("events"),
        F.create_map(*[x for d in windows for x in (F.lit(window_label(d)), zero(f"ev_{d}"))])
        .alias("events_by_window"),
        zero("sessions").alias("sessions"),
        active_days.alias("active_days"),
        F.when(active_days == 0, "none").when(active_days < low, "low")
        .when(active_days < high, "medium").otherwise("high").alias("activity_level"),
        "avg_price_paid", "price_sensitivity",
        *[F.coalesce(F.col(c), empty_counts).alias(c)
          for c in ("promo_impressions", "promo_clicks", "promo_redeems")],
        F.coalesce(F.col("promo_click_rate"), F.col("g_all_clk")).alias("promo_click_rate"),
        F.coalesce(F.col("promo_redeem_rate"), F.col("g_all_red")).alias("promo_redeem_rate"),
        *rate_cols,
        F.coalesce(F.col("top_categories"), F.array().cast("array<string>")).alias("top_categories"),
        F.coalesce(F.col("top_category_shares"), F.array().cast("array<double>"))
        .alias("top_category_shares"),
    )
