"""ALS's top-N recommendations over candidates.

Scoring the whole catalog for every user (``recommendForAllUsers``) is users x items dot
products; here only candidates are scored: items of the user's top categories (capped to the
most popular per category) plus globally popular items, in numpy over a small candidate pool
(als/candidate_scoring.py). Users without factors get no ALS list: the published ranking fills
every list with popular items (ranking/candidate.py ``complete``).
"""
from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from recsys_spark.als.candidate_scoring import SCORED_SCHEMA, collect_pool, top_n_scorer
from recsys_spark.domain.events import top_level
from recsys_spark.settings.als import AlsConfig

SOURCE_ALS = "als"


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
