"""item_stats: popularity and conversion per item over the configured windows."""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from recsys_spark.domain.events import ITEM_EVENT_TYPES
from recsys_spark.features.user_features import window_label
from recsys_spark.settings.features import FeaturesConfig


def build_item_stats(events_df: DataFrame, items_df: DataFrame | None, run_date: dt.date,
                     cfg: FeaturesConfig) -> DataFrame:
    """item_stats rows (without run columns).

    ``events_df`` is already limited to the lookback. Items of the catalog without events appear
    with zero counts (cold items), so every catalog item has a popularity rank.
    """
    item_events_df = events_df.filter(F.col("event_type").isin(*ITEM_EVENT_TYPES)
                                      & F.col("item_id").isNotNull())
    etype = F.col("event_type")

    aggs = [
        F.count_if(etype == "view").alias("views"),
        F.count_if(etype == "click").alias("clicks"),
        F.count_if(etype == "add_to_cart").alias("add_to_carts"),
        F.count_if(etype == "purchase").alias("purchases"),
        F.sum(F.when(etype == "purchase", F.coalesce(F.col("quantity"), F.lit(1))).otherwise(0))
        .cast("long").alias("units_sold"),
        F.sum(F.when(etype == "purchase", F.col("price") * F.coalesce(F.col("quantity"), F.lit(1)))
              .otherwise(0.0)).alias("revenue"),
        F.count_distinct("user_id").alias("unique_users"),  # nulls (anonymous) are not counted
        F.max("category").alias("event_category"),
    ]
    for days in cfg.windows_days:
        in_w = F.col("event_date") >= F.lit(run_date - dt.timedelta(days=days - 1))
        aggs += [F.count_if(in_w & (etype == "view")).alias(f"v_{days}"),
                 F.count_if(in_w & (etype == "purchase")).alias(f"p_{days}")]
    stats_df = item_events_df.groupBy("item_id").agg(*aggs)
    if items_df is not None:
        catalog_df = items_df.select("item_id", F.col("category").alias("catalog_category")).distinct()
        stats_df = catalog_df.join(stats_df, on="item_id", how="full")
    else:
        stats_df = stats_df.withColumn("catalog_category", F.lit(None).cast("string"))

    def zero(name: str, kind: str = "long") -> Column:
        return F.coalesce(F.col(name), F.lit(0).cast(kind))

    windows = cfg.windows_days
    # One global ordering: item counts are catalog-sized (not event-sized), so a single sorted
    # partition is acceptable here and gives a dense, deterministic rank.
    rank_window = Window.orderBy(zero("unique_users").desc(), zero("purchases").desc(),
                                 F.col("item_id").asc())
    return stats_df.select(
        "item_id",
        F.coalesce(F.col("catalog_category"), F.col("event_category")).alias("category"),
        *[zero(c).alias(c) for c in ("views", "clicks", "add_to_carts", "purchases", "units_sold")],
        zero("revenue", "double").alias("revenue"),
        zero("unique_users").alias("unique_users"),
        F.try_divide(zero("purchases").cast("double"), zero("views")).alias("view_to_purchase_rate"),
        F.try_divide(zero("purchases").cast("double"), zero("add_to_carts")).alias("cart_to_purchase_rate"),
        F.row_number().over(rank_window).alias("popularity_rank"),
        F.create_map(*[x for d in windows for x in (F.lit(window_label(d)), zero(f"v_{d}"))])
        .alias("views_by_window"),
        F.create_map(*[x for d in windows for x in (F.lit(window_label(d)), zero(f"p_{d}"))])
        .alias("purchases_by_window"),
        F.create_map(*[x for d in windows for x in (
            F.lit(window_label(d)), F.try_divide(zero(f"p_{d}").cast("double"), zero(f"v_{d}")))])
        .alias("conversion_by_window"),
    )
