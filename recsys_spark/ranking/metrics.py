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

from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F

USER = "user_id"


def ideal_dcg(relevant: F.Column, k: int) -> F.Column:
    """IDCG@k of a user with ``relevant`` relevant keys: sum of 1/log2(i + 1), i = 1..min(n, k)."""
    positions = F.sequence(F.lit(1), F.least(relevant, F.lit(k)))
    return F.aggregate(positions, F.lit(0.0), lambda acc, i: acc + 1.0 / F.log2(i + 1.0))


def metric_names(k: int) -> tuple[str, ...]:
    return (f"ndcg@{k}", f"hit_rate@{k}", f"precision@{k}", f"recall@{k}")


def per_user_metrics(ranked_df: DataFrame, truth_df: DataFrame, k: int, key: str,
                     group: str | None = None) -> DataFrame:
    """One row per user of ``truth_df`` (per ``group`` value of ``ranked_df`` when given):
    [<group>,] user_id, relevant, hits, ndcg.

    Args:
        ranked_df: [<group>,] user_id, rank, <key> (rank 1 = best); ranks above ``k`` are ignored.
        truth_df: [user_id, <key>] the relevant keys (duplicates are ignored).
        group: a column of ``ranked_df`` naming several rankings (e.g. the candidate): each is
            judged on every user of ``truth_df``; its values must be few (they are crossed
            with the users).
    """
    by = [group] if group else []
    truth_df = truth_df.select(USER, key).distinct()
    hits_df = (ranked_df.filter(F.col("rank") <= k).select(*by, USER, key, "rank")
               .join(truth_df, on=[USER, key], how="inner")
               .groupBy(*by, USER).agg(F.count(F.lit(1)).alias("hits"),
                                       F.sum(1.0 / F.log2(F.col("rank") + 1.0)).alias("dcg")))
    users_df = truth_df.groupBy(USER).agg(F.count(F.lit(1)).alias("relevant"))
    if group:   # every ranking is judged on every user: a user it gave no list scores 0
        users_df = users_df.crossJoin(F.broadcast(ranked_df.select(group).distinct()))
    return (users_df.join(hits_df, on=[*by, USER], how="left")
            .select(*by, USER, "relevant", F.coalesce("hits", F.lit(0)).alias("hits"),
                    (F.coalesce("dcg", F.lit(0.0)) / ideal_dcg(F.col("relevant"), k)).alias("ndcg")))


def _figures(row: Row, k: int) -> dict[str, float]:
    values = [row[name] or 0.0 for name in ("ndcg", "hit", "precision", "recall")]
    return {**{name: float(v) for name, v in zip(metric_names(k), values, strict=True)},
            "eval_users": float(row["users"])}


def _means(k: int) -> list[Column]:
    return [F.count(F.lit(1)).alias("users"), F.avg("ndcg").alias("ndcg"),
            F.avg((F.col("hits") > 0).cast("double")).alias("hit"),
            F.avg(F.col("hits") / F.lit(float(k))).alias("precision"),
            F.avg(F.col("hits") / F.col("relevant")).alias("recall")]


def ranking_metrics(ranked_df: DataFrame, truth_df: DataFrame, k: int, key: str) -> dict[str, float]:
    """Mean NDCG@k, hit rate@k, precision@k, recall@k over the users of ``truth_df``, and
    ``eval_users`` (their number). One small aggregate comes back to the driver."""
    row = per_user_metrics(ranked_df, truth_df, k, key).agg(*_means(k)).first()
    assert row is not None  # a global aggregate always has one row
    return _figures(row, k)


def ranking_metrics_by(ranked_df: DataFrame, truth_df: DataFrame, k: int, key: str,
                       group: str) -> dict[str, dict[str, float]]:
    """:func:`ranking_metrics` of each ``group`` value of ``ranked_df`` (e.g. every candidate of
    a window), in one Spark job: one row per group comes back to the driver."""
    rows = (per_user_metrics(ranked_df, truth_df, k, key, group)
            .groupBy(group).agg(*_means(k)).collect())
    return {row[group]: _figures(row, k) for row in rows}
