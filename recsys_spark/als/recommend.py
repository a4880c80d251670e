"""Top-N recommendations over candidates, cold start, and user x category affinity.

Scoring the whole catalog for every user (``recommendForAllUsers``) is users x items dot
products; here only candidates are scored: items of the user's top categories (capped to the
most popular per category) plus globally popular items, in numpy over a small candidate pool
(als/candidate_scoring.py). Category affinity (a few dot products per user) uses Spark
built-ins (``zip_with`` + ``aggregate``).
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from recsys_spark.als.candidate_scoring import SCORED_SCHEMA, collect_pool, top_n_scorer
from recsys_spark.domain.events import top_level
from recsys_spark.settings.als import AlsConfig

SOURCE_ALS = "als"
SOURCE_SEGMENT = "segment"
SOURCE_POPULAR = "popular"
RECOMMENDATION_COLUMNS = ["user_id", "rank", "item_id", "score", "source"]


def dot(left: Column, right: Column) -> Column:
    """Dot product of two equal-length float arrays, accumulated in double."""
    products = F.zip_with(left, right, lambda x, y: x.cast("double") * y.cast("double"))
    return F.aggregate(products, F.lit(0.0).cast("double"), lambda acc, x: acc + x)


def item_popularity(ratings_df: DataFrame) -> DataFrame:
    """DataFrame[item_id, popularity double]: how many users interacted with the item."""
    return (ratings_df.groupBy("item_id")
            .agg(F.countDistinct("user_id").cast("double").alias("popularity")))


def top_popular(popularity_df: DataFrame, n: int) -> DataFrame:
    """The ``n`` most popular items (ties by item_id): DataFrame[item_id, popularity]."""
    return popularity_df.orderBy(F.desc("popularity"), F.asc("item_id")).limit(n)


def item_categories(items_df: DataFrame | None, events_df: DataFrame) -> DataFrame:
    """DataFrame[item_id, category]: from `items` when given, else each item's latest event category."""
    if items_df is not None:
        return items_df.filter(F.col("category").isNotNull()).select("item_id", "category").distinct()
    return (events_df.filter(F.col("item_id").isNotNull() & F.col("category").isNotNull())
            .groupBy("item_id")
            .agg(F.max_by("category", F.struct("event_time", "category")).alias("category")))


def user_top_categories(ratings_df: DataFrame, item_cat_df: DataFrame, config: AlsConfig) -> DataFrame:
    """Each user's ``candidate_top_categories`` strongest categories: DataFrame[user_id, category]."""
    category = (top_level(F.col("category")) if config.candidate_category_level == "top"
                else F.col("category"))
    order = Window.partitionBy("user_id").orderBy(F.desc("strength"), F.asc("category"))
    return (ratings_df.join(item_cat_df, on="item_id", how="inner")
            .groupBy("user_id", category.alias("category")).agg(F.sum("rating").alias("strength"))
            .withColumn("pos", F.row_number().over(order))
            .filter(F.col("pos") <= config.candidate_top_categories)
            .select("user_id", "category"))


def category_items(item_cat_df: DataFrame, popularity_df: DataFrame, config: AlsConfig) -> DataFrame:
    """The most popular ``candidate_items_per_category`` items per category: [category, item_id]."""
    category = (top_level(F.col("category")) if config.candidate_category_level == "top"
                else F.col("category"))
    order = Window.partitionBy("category").orderBy(F.desc("popularity"), F.asc("item_id"))
    return (item_cat_df.select("item_id", category.alias("category"))
            .join(popularity_df, on="item_id", how="inner")
            .withColumn("pos", F.row_number().over(order))
            .filter(F.col("pos") <= config.candidate_items_per_category)
            .select("category", "item_id"))


def build_candidates(users_df: DataFrame, ratings_df: DataFrame, item_cat_df: DataFrame,
                     popularity_df: DataFrame, config: AlsConfig) -> DataFrame:
    """Candidate items per user: top categories' items + popular items. [user_id, item_id]."""
    by_category_df = (user_top_categories(ratings_df, item_cat_df, config)
                      .join(users_df.select("user_id"), on="user_id", how="inner")
                      .join(category_items(item_cat_df, popularity_df, config), on="category",
                            how="inner")
                      .select("user_id", "item_id"))
    popular_df = top_popular(popularity_df, config.candidate_popular_items).select("item_id")
    # Small (candidate_popular_items rows): broadcast to every user.
    by_popularity_df = users_df.select("user_id").crossJoin(F.broadcast(popular_df))
    return by_category_df.unionByName(by_popularity_df).distinct()


def purchased_items(events_df: DataFrame) -> DataFrame:
    """DataFrame[user_id, item_id] of purchases in the given events."""
    return (events_df.filter((F.col("event_type") == "purchase") & F.col("user_id").isNotNull()
                             & F.col("item_id").isNotNull())
            .select("user_id", "item_id").distinct())


def filter_purchased(pairs_df: DataFrame, purchased_df: DataFrame | None) -> DataFrame:
    """Drop (user, item) pairs the user already bought; pass through when ``purchased_df`` is None."""
    if purchased_df is None:
        return pairs_df
    return pairs_df.join(purchased_df, on=["user_id", "item_id"], how="left_anti")


def top_n(scored_df: DataFrame, n: int, source: str) -> DataFrame:
    """Best ``n`` per user by score (ties by item_id), as recommendation rows."""
    order = Window.partitionBy("user_id").orderBy(F.desc("score"), F.asc("item_id"))
    return (scored_df.withColumn("rank", F.row_number().over(order)).filter(F.col("rank") <= n)
            .select("user_id", F.col("rank").cast("int"), "item_id", F.col("score").cast("double"),
                    F.lit(source).alias("source")))


def recommend_warm(users_df: DataFrame, ratings_df: DataFrame, item_cat_df: DataFrame,
                   popularity_df: DataFrame, purchased_df: DataFrame | None,
                   user_factors_df: DataFrame, item_factors_df: DataFrame,
                   config: AlsConfig) -> DataFrame:
    """ALS top-N over the candidates of :func:`build_candidates` minus purchases, for
    ``users_df`` (those without factors get nothing here).

    The (user, item) candidate pairs are not materialised: each user row carries its top
    categories and purchases and is scored in numpy against the small candidate pool
    (als/candidate_scoring.py explains why and what bounds the pool).
    """
    pool = collect_pool(category_items(item_cat_df, popularity_df, config),
                        top_popular(popularity_df, config.candidate_popular_items), item_factors_df)
    no_items = F.array().cast("array<string>")
    cats_df = (user_top_categories(ratings_df, item_cat_df, config)
               .groupBy("user_id").agg(F.collect_list("category").alias("cats")))
    rows_df = (users_df.select("user_id")
               .join(user_factors_df.select("user_id", F.col("features").alias("uf")),
                     on="user_id", how="inner")
               .join(cats_df, on="user_id", how="left"))
    if purchased_df is not None:
        bought_df = purchased_df.groupBy("user_id").agg(F.collect_set("item_id").alias("bought"))
        rows_df = rows_df.join(bought_df, on="user_id", how="left")
    else:
        rows_df = rows_df.withColumn("bought", no_items)
    rows_df = rows_df.select("user_id", "uf", F.coalesce("cats", no_items).alias("cats"),
                             F.coalesce("bought", no_items).alias("bought"))
    return (rows_df.mapInPandas(top_n_scorer(pool, config.top_n), SCORED_SCHEMA)
            .withColumn("source", F.lit(SOURCE_ALS)))


def segment_popularity(ratings_df: DataFrame, segments_df: DataFrame) -> DataFrame:
    """DataFrame[segment_id, item_id, popularity]: users of the segment who interacted."""
    return (ratings_df.join(segments_df.select("user_id", "segment_id"), on="user_id", how="inner")
            .groupBy("segment_id", "item_id")
            .agg(F.countDistinct("user_id").cast("double").alias("popularity")))


def recommend_cold(cold_users_df: DataFrame, ratings_df: DataFrame, popularity_df: DataFrame,
                   segments_df: DataFrame | None, purchased_df: DataFrame | None, n: int) -> DataFrame:
    """Top-N for users without factors: segment-popular items first (when segments are given),
    then globally popular ones; ``source`` says which."""
    pool = n if purchased_df is None else 2 * n  # headroom for items the user already bought
    popular_df = top_popular(popularity_df, pool)
    options_df = (cold_users_df.select("user_id").crossJoin(F.broadcast(popular_df))
                  .select("user_id", "item_id", F.col("popularity").alias("score"),
                          F.lit(1).alias("priority"), F.lit(SOURCE_POPULAR).alias("source")))
    if segments_df is not None:
        order = Window.partitionBy("segment_id").orderBy(F.desc("popularity"), F.asc("item_id"))
        seg_top_df = (segment_popularity(ratings_df, segments_df)
                      .withColumn("pos", F.row_number().over(order)).filter(F.col("pos") <= pool))
        by_segment_df = (cold_users_df.select("user_id")
                         .join(segments_df.select("user_id", "segment_id"), on="user_id", how="inner")
                         .join(seg_top_df, on="segment_id", how="inner")
                         .select("user_id", "item_id", F.col("popularity").alias("score"),
                                 F.lit(0).alias("priority"), F.lit(SOURCE_SEGMENT).alias("source")))
        options_df = by_segment_df.unionByName(options_df)
    best_first = Window.partitionBy("user_id", "item_id").orderBy("priority")
    order = Window.partitionBy("user_id").orderBy("priority", F.desc("score"), F.asc("item_id"))
    return (options_df.transform(filter_purchased, purchased_df)
            .withColumn("dup", F.row_number().over(best_first)).filter(F.col("dup") == 1)
            .withColumn("rank", F.row_number().over(order)).filter(F.col("rank") <= n)
            .select("user_id", F.col("rank").cast("int"), "item_id", F.col("score").cast("double"),
                    "source"))


def category_mean_factors(item_factors_df: DataFrame, item_cat_df: DataFrame) -> DataFrame:
    """DataFrame[category (top level), features array<double>]: mean item factor per category."""
    exploded_df = (item_factors_df.join(item_cat_df, on="item_id", how="inner")
                   .select(top_level(F.col("category")).alias("category"),
                           F.posexplode("features").alias("pos", "value")))
    return (exploded_df.groupBy("category", "pos").agg(F.avg("value").alias("value"))
            .groupBy("category")
            .agg(F.array_sort(F.collect_list(F.struct("pos", "value"))).alias("parts"))
            .select("category", F.transform("parts", lambda p: p["value"]).alias("features")))


def category_affinity(user_factors_df: DataFrame, item_factors_df: DataFrame,
                      item_cat_df: DataFrame) -> DataFrame:
    """DataFrame[user_id, category, score]: user factor . mean item factor of the category."""
    # One row per top-level category (tens): broadcast to every user.
    means_df = category_mean_factors(item_factors_df, item_cat_df)
    return (user_factors_df.select("user_id", F.col("features").alias("uf"))
            .crossJoin(F.broadcast(means_df))
            .select("user_id", "category", dot(F.col("uf"), F.col("features")).alias("score")))
