"""Top-k metrics of rankings against the keys a user actually engaged with, in Spark built-ins.

Binary relevance. For a user u with relevant keys T_u and a ranked list whose rank r holds a key:
    DCG@k  = sum over ranks r <= k whose key is in T_u of 1 / log2(r + 1)
    IDCG@k = sum over i = 1 .. min(|T_u|, k) of 1 / log2(i + 1)
    NDCG@k = DCG@k / IDCG@k;  hit@k = 1 if any of the top k is in T_u
    precision@k = hits / k;   recall@k = hits / |T_u|
Every figure is the mean over the users of the truth; a user without a list scores 0. The same
definitions as Spark's RankingEvaluator (ndcgAtK with binary relevance) and recommenders'
``ndcg_at_k``; tests/ranking checks them against a numpy reference.
"""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

USER = "user_id"


def ideal_dcg(relevant: F.Column, k: int) -> F.Column:
    """IDCG@k of a user with ``relevant`` relevant keys: sum of 1/log2(i + 1), i = 1..min(n, k)."""
    positions = F.sequence(F.lit(1), F.least(relevant, F.lit(k)))
    return F.aggregate(positions, F.lit(0.0), lambda acc, i: acc + 1.0 / F.log2(i + 1.0))


def metric_names(k: int) -> tuple[str, ...]:
    return (f"ndcg@{k}", f"hit_rate@{k}", f"precision@{k}", f"recall@{k}")


def per_user_metrics(ranked_df: DataFrame, truth_df: DataFrame, k: int, key: str) -> DataFrame:
    """One row per user of ``truth_df``: user_id, relevant, hits, ndcg.

    Args:
        ranked_df: [user_id, rank, <key>] (rank 1 = best); ranks above ``k`` are ignored.
        truth_df: [user_id, <key>] the relevant keys (duplicates are ignored).
    """
    truth_df = truth_df.select(USER, key).distinct()
    hits_df = (ranked_df.filter(F.col("rank") <= k).select(USER, key, "rank")
               .join(truth_df, on=[USER, key], how="inner")
               .groupBy(USER).agg(F.count(F.lit(1)).alias("hits"),
                                  F.sum(1.0 / F.log2(F.col("rank") + 1.0)).alias("dcg")))
    return (truth_df.groupBy(USER).agg(F.count(F.lit(1)).alias("relevant"))
            .join(hits_df, on=USER, how="left")
            .select(USER, "relevant", F.coalesce("hits", F.lit(0)).alias("hits"),
                    (F.coalesce("dcg", F.lit(0.0)) / ideal_dcg(F.col("relevant"), k)).alias("ndcg")))


def ranking_metrics(ranked_df: DataFrame, truth_df: DataFrame, k: int, key: str) -> dict[str, float]:
    """Mean NDCG@k, hit rate@k, precision@k, recall@k over the users of ``truth_df``, and
    ``eval_users`` (their number). One small aggregate comes back to the driver."""
    row = per_user_metrics(ranked_df, truth_df, k, key).agg(
        F.count(F.lit(1)).alias("users"), F.avg("ndcg").alias("ndcg"),
        F.avg((F.col("hits") > 0).cast("double")).alias("hit"),
        F.avg(F.col("hits") / F.lit(float(k))).alias("precision"),
        F.avg(F.col("hits") / F.col("relevant")).alias("recall")).first()
    assert row is not None  # a global aggregate always has one row
    users = int(row["users"])
    values = [row[name] or 0.0 for name in ("ndcg", "hit", "precision", "recall")]
    return {**{name: float(v) for name, v in zip(metric_names(k), values, strict=True)},
            "eval_users": float(users)}
