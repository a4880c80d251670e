"""SAR's similarity measures on a co-occurrence matrix, and deterministic top-K.

For items i, j with co-occurrence C[i, j] and diagonal C[i, i] (microsoft/recommenders SAR):
    cosine  = C[i, j] / sqrt(C[i, i] * C[j, j])
    jaccard = C[i, j] / (C[i, i] + C[j, j] - C[i, j])
    lift    = C[i, j] / (C[i, i] * C[j, j])
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from recsys_spark.settings.similarity import Measure


def similarity_score(cooc: Column, diag_i: Column, diag_j: Column, measure: Measure) -> Column:
    """The measure as a Column; null when a denominator is 0 (never for real co-occurrences)."""
    if measure == "cosine":
        return F.try_divide(cooc, F.sqrt(diag_i * diag_j))
    if measure == "jaccard":
        return F.try_divide(cooc, diag_i + diag_j - cooc)
    if measure == "lift":
        return F.try_divide(cooc, diag_i * diag_j)
    raise ValueError(f"measure: unknown {measure!r}")


def pair_scores(pairs_df: DataFrame, diag_df: DataFrame, measure: Measure) -> DataFrame:
    """Both directions of each (item_i < item_j) pair: item_id, similar_item_id, score, support.

    The mirror is produced here, after aggregation, so the join emitted only half the pairs.
    """
    diag = diag_df.select("item_id", "diag")
    scored_df = (pairs_df
                 .join(diag.withColumnRenamed("item_id", "item_i").withColumnRenamed("diag", "d_i"),
                       on="item_i", how="inner")
                 .join(diag.withColumnRenamed("item_id", "item_j").withColumnRenamed("diag", "d_j"),
                       on="item_j", how="inner")
                 .withColumn("score", similarity_score(F.col("cooc"), F.col("d_i"), F.col("d_j"), measure))
                 .filter(F.col("score").isNotNull()))
    forward = scored_df.select(F.col("item_i").alias("item_id"), F.col("item_j").alias("similar_item_id"),
                               "score", "support")
    backward = scored_df.select(F.col("item_j").alias("item_id"), F.col("item_i").alias("similar_item_id"),
                                "score", "support")
    return forward.unionByName(backward)


def top_k(scores_df: DataFrame, k: int, key: str = "item_id", other: str = "similar_item_id") -> DataFrame:
    """The k best rows per ``key`` with ``rank`` 1..k: score desc, ties by ``other`` asc."""
    order = Window.partitionBy(key).orderBy(F.col("score").desc(), F.col(other).asc())
    return scores_df.withColumn("rank", F.row_number().over(order)).filter(F.col("rank") <= k)
