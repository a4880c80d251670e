"""Category rollups of item similarity: item -> category and category <-> category.

Promotions target TOP-level categories, so both rollups use the top level of "top.sub".
"""
from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from recsys_spark.domain.events import top_level
from recsys_spark.settings.similarity import Measure
from recsys_spark.similarity.measures import similarity_score, top_k


def item_categories(events_df: DataFrame, items_df: DataFrame | None) -> DataFrame:
    """item_id -> top-level category: the catalog's when known, else the events' (max, stable)."""
    from_events = (events_df.filter(F.col("item_id").isNotNull() & F.col("category").isNotNull())
                   .groupBy("item_id").agg(F.max("category").alias("ev_category")))
    if items_df is None:
        return from_events.select("item_id", top_level(F.col("ev_category")).alias("category"))
    catalog = items_df.filter(F.col("category").isNotNull()).groupBy("item_id").agg(
        F.max("category").alias("cat_category"))
    return (catalog.join(from_events, on="item_id", how="full")
            .select("item_id", top_level(F.coalesce("cat_category", "ev_category")).alias("category")))


def item_category_affinity(top_df: DataFrame, categories_df: DataFrame) -> DataFrame:
    """item_id, category, score (share of the item's top-K similarity mass), rank."""
    mass_df = (top_df.join(categories_df.withColumnRenamed("item_id", "similar_item_id"),
                           on="similar_item_id", how="inner")
               .groupBy("item_id", "category").agg(F.sum("score").alias("mass")))
    total = F.sum("mass").over(Window.partitionBy("item_id"))
    shares_df = mass_df.withColumn("score", F.try_divide(F.col("mass"), total))
    return top_k(shares_df, 1 << 30, key="item_id", other="category").select(
        "item_id", "category", "score", "rank")


def category_affinity(pairs_df: DataFrame, diag_df: DataFrame, categories_df: DataFrame,
                      measure: Measure, k: int) -> DataFrame:
    """category, similar_category, score, rank, support, method.

    The item co-occurrence matrix is summed into category blocks: C[A, B] = sum of C[i, j] over
    i in A, j in B (A != B), C[A, A] = sum of C[i, i] over i in A; then the same measure. Only
    pairs that survived min_support contribute, so the rollup is as sparse as the pairs.
    """
    cat_i = categories_df.select(F.col("item_id").alias("item_i"), F.col("category").alias("cat_i"))
    cat_j = categories_df.select(F.col("item_id").alias("item_j"), F.col("category").alias("cat_j"))
    cross_df = (pairs_df.join(cat_i, on="item_i", how="inner").join(cat_j, on="item_j", how="inner")
                .filter(F.col("cat_i") != F.col("cat_j")))
    both_df = cross_df.select(F.col("cat_i").alias("category"), F.col("cat_j").alias("similar_category"),
                              "cooc", "support").unionByName(
        cross_df.select(F.col("cat_j").alias("category"), F.col("cat_i").alias("similar_category"),
                        "cooc", "support"))
    block_df = both_df.groupBy("category", "similar_category").agg(
        F.sum("cooc").alias("cooc"), F.sum("support").alias("support"))
    cat_diag = (diag_df.join(categories_df, on="item_id", how="inner")
                .groupBy("category").agg(F.sum("diag").alias("d")))
    scored_df = (block_df
                 .join(cat_diag.withColumnRenamed("d", "d_a"), on="category", how="inner")
                 .join(cat_diag.withColumnRenamed("category", "similar_category")
                       .withColumnRenamed("d", "d_b"), on="similar_category", how="inner")
                 .withColumn("score", similarity_score(F.col("cooc"), F.col("d_a"), F.col("d_b"), measure))
                 .filter(F.col("score").isNotNull()))
    return (top_k(scored_df, k, key="category", other="similar_category")
            .select("category", "similar_category", "score", "rank", "support",
                    F.lit(measure).alias("method")))
