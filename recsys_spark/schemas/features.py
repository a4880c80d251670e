"""Tables the features stage writes: user_features, user_segments, segment_centroids, item_stats."""
from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
)

from recsys_spark.domain.promotions import PROMO_TYPES
from recsys_spark.schemas.spec import TableSpec, col

# Per-type responsiveness is one column per promotion type (recsys_spark/domain/promotions.py)
# so the response model and the bandit can use them without parsing maps.

_RUN = [
    col("run_id", StringType(), "run that computed the row", nullable=False),
    col("run_date", DateType(), "as-of date of the features (events with event_date <= run_date)",
        nullable=False),
]


def _rate_columns() -> list[StructField]:
    out: list[StructField] = []
    for promo_type in PROMO_TYPES:
        out.append(col(f"click_rate_{promo_type}", DoubleType(),
                       f"smoothed promo_click / promo_impression rate for {promo_type} promotions "
                       "(shrunk toward the type's global rate)"))
        out.append(col(f"redeem_rate_{promo_type}", DoubleType(),
                       f"smoothed promo_redeem / promo_impression rate for {promo_type} promotions"))
    return out


USER_FEATURES = StructType([
    col("user_id", StringType(), "known (non-anonymous) user", nullable=False),
    col("has_history", IntegerType(), "1 when the user has >= features.min_events events in the "
        "lookback (the longest window), else 0 (cold start)"),
    col("recency_days", IntegerType(), "days from the last event to run_date (null: no events)"),
    col("purchase_recency_days", IntegerType(), "days from the last purchase to run_date (null: none)"),
    col("frequency", LongType(), "purchase events in the longest window"),
    col("monetary", DoubleType(), "sum of price * quantity of purchases in the longest window (EUR)"),
    col("frequency_by_window", MapType(StringType(), LongType()), "window ('7d', ...) -> purchases"),
    col("monetary_by_window", MapType(StringType(), DoubleType()), "window -> purchase value (EUR)"),
    col("events", LongType(), "events of any type in the longest window"),
    col("events_by_window", MapType(StringType(), LongType()), "window -> events"),
    col("sessions", LongType(), "distinct sessions in the longest window"),
    col("active_days", LongType(), "distinct event dates in the longest window"),
    col("activity_level", StringType(), "none | low | medium | high (active days vs thresholds)"),
    col("avg_price_paid", DoubleType(), "quantity-weighted mean unit price of purchases (null: none)"),
    col("price_sensitivity", DoubleType(), "share of purchases made with a promotion (null: none)"),
    col("promo_impressions", MapType(StringType(), LongType()), "promo type -> impressions"),
    col("promo_clicks", MapType(StringType(), LongType()), "promo type -> promo clicks"),
    col("promo_redeems", MapType(StringType(), LongType()), "promo type -> redemptions"),
    col("promo_click_rate", DoubleType(), "smoothed click rate over all promotion types"),
    col("promo_redeem_rate", DoubleType(), "smoothed redeem rate over all promotion types"),
    *_rate_columns(),
    col("top_categories", ArrayType(StringType()), "top-level categories by share of item events, "
        "best first (ties: name asc)"),
    col("top_category_shares", ArrayType(DoubleType()), "share of item events per top_categories entry"),
    *_RUN,
])

USER_SEGMENTS = StructType([
    col("user_id", StringType(), "known user", nullable=False),
    col("segment_id", StringType(), "KMeans segment 's0'..'s{k-1}' (ids matched to the previous "
        "run's centroids) or 'cold_start'", nullable=False),
    col("rfm_segment", StringType(), "readable RFM bucket: champions, loyal, new, promising, "
        "at_risk, hibernating, browsers, cold_start", nullable=False),
    col("rfm_code", StringType(), "R/F/M scores, e.g. R3F2M1 (0 = no purchase)"),
    col("distance", DoubleType(), "distance to the segment centroid in standardized space"),
    *_RUN,
])

SEGMENT_CENTROIDS = StructType([
    col("segment_id", StringType(), "segment id (s0..)", nullable=False),
    col("feature_names", ArrayType(StringType()), "names of the clustered (transformed) features"),
    col("center", ArrayType(DoubleType()), "centroid in the unstandardized transformed feature space"),
    col("size", LongType(), "users assigned"),
    col("matched_from", StringType(), "segment id of the previous run's centroid it was matched to"),
    *_RUN,
])

ITEM_STATS = StructType([
    col("item_id", StringType(), "item", nullable=False),
    col("category", StringType(), "category 'top.sub' (catalog, else events)"),
    col("views", LongType(), "view events in the longest window"),
    col("clicks", LongType(), "click events"),
    col("add_to_carts", LongType(), "add_to_cart events"),
    col("purchases", LongType(), "purchase events"),
    col("units_sold", LongType(), "sum of purchase quantities"),
    col("revenue", DoubleType(), "sum of price * quantity of purchases (EUR)"),
    col("unique_users", LongType(), "distinct known users with any event on the item"),
    col("view_to_purchase_rate", DoubleType(), "purchases / views (null: no views)"),
    col("cart_to_purchase_rate", DoubleType(), "purchases / add_to_carts (null: no carts)"),
    col("popularity_rank", IntegerType(), "1 = most popular (unique_users desc, purchases desc, "
        "item_id asc)"),
    col("views_by_window", MapType(StringType(), LongType()), "window ('7d', ...) -> views"),
    col("purchases_by_window", MapType(StringType(), LongType()), "window -> purchases"),
    col("conversion_by_window", MapType(StringType(), DoubleType()),
        "window -> purchases / views (null: no views)"),
    *_RUN,
])

TABLES = {
    "user_features": TableSpec(
        "user_features", USER_FEATURES,
        "Per known user as of run_date: RFM over windows, category affinity, price paid and "
        "promotion sensitivity, responsiveness per promotion type, activity level.",
        partition_by=("run_date",), keys=("run_date", "user_id"), written_by="features",
        example_queries={"Most promotion-sensitive buyers": (
            "SELECT user_id, price_sensitivity, frequency FROM user_features\n"
            "WHERE run_date = DATE'2026-11-07' AND frequency >= 3 ORDER BY price_sensitivity DESC")}),
    "user_segments": TableSpec(
        "user_segments", USER_SEGMENTS,
        "The bandit's contexts: a KMeans segment (ids stable across runs) and a readable RFM bucket "
        "per known user; users without history are 'cold_start'.",
        partition_by=("run_date",), keys=("run_date", "user_id"), written_by="features",
        example_queries={"Segment sizes": (
            "SELECT segment_id, rfm_segment, count(*) FROM user_segments\n"
            "WHERE run_date = DATE'2026-11-07' GROUP BY 1, 2 ORDER BY 1, 2")}),
    "segment_centroids": TableSpec(
        "segment_centroids", SEGMENT_CENTROIDS,
        "KMeans centroids per run; the next run matches its centroids to these to keep ids stable.",
        partition_by=("run_date",), keys=("run_date", "segment_id"), written_by="features"),
    "item_stats": TableSpec(
        "item_stats", ITEM_STATS,
        "Per item as of run_date: popularity and conversion over windows.",
        partition_by=("run_date",), keys=("run_date", "item_id"), written_by="features",
        example_queries={"Top sellers": (
            "SELECT item_id, purchases, revenue FROM item_stats\n"
            "WHERE run_date = DATE'2026-11-07' ORDER BY popularity_rank LIMIT 20")}),
}
