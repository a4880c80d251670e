"""Chronological-split evaluation: ranking metrics of ALS and baselines, and the tuning grid.

Metrics are Spark's ``RankingEvaluator`` (precisionAtK, recallAtK, ndcgAtK,
meanAveragePrecisionAtK, binary relevance) over users who have a relevant test-period item,
plus catalog coverage = distinct items in the evaluated top-K lists / catalog size.
``RankingEvaluator`` wants numeric arrays, so items are numbered by their `als_id_map` index
(exact as double below 2^53); a relevant item missing from the map gets a negative number from
its hash, which no prediction can equal.
"""
from __future__ import annotations

import datetime as dt
import itertools

from pyspark import StorageLevel
from pyspark.ml.evaluation import RankingEvaluator
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recsys_spark.als.recommend import SOURCE_POPULAR, filter_purchased, top_n, top_popular
from recsys_spark.als.train import AlsParams
from recsys_spark.settings.als import AlsConfig

SPLIT = "chronological_holdout"
METRICS = {"precision": "precisionAtK", "recall": "recallAtK", "ndcg": "ndcgAtK",
           "map": "meanAveragePrecisionAtK"}


def split_date(run_date: dt.date, holdout_days: int) -> dt.date:
    """Last day of the training period: events after it (up to run_date) are the test period."""
    return run_date - dt.timedelta(days=holdout_days)


def chronological_split(events_df: DataFrame, run_date: dt.date,
                        holdout_days: int) -> tuple[DataFrame, DataFrame]:
    """(train events: event_date <= split date, test events: after it)."""
    cut = F.lit(split_date(run_date, holdout_days))
    return events_df.filter(F.col("event_date") <= cut), events_df.filter(F.col("event_date") > cut)


def relevant_items(test_events_df: DataFrame, config: AlsConfig) -> DataFrame:
    """DataFrame[user_id, item_id]: test-period items the user clicked/carted/bought."""
    return (test_events_df.filter(F.col("event_type").isin(list(config.relevant_event_types))
                                  & F.col("user_id").isNotNull() & F.col("item_id").isNotNull())
            .select("user_id", "item_id").distinct())


def _item_number(item_map_df: DataFrame, df: DataFrame) -> DataFrame:
    numbered_df = df.join(item_map_df.select(F.col("id").alias("item_id"), "idx"), on="item_id",
                          how="left")
    fallback = -(F.pmod(F.xxhash64("item_id"), F.lit(2**52)) + F.lit(1))
    return numbered_df.withColumn("num", F.coalesce(F.col("idx"), fallback).cast("double"))


def ranking_metrics(recs_df: DataFrame, truth_df: DataFrame, item_map_df: DataFrame, k: int,
                    catalog_size: int) -> dict[str, float]:
    """Ranking metrics at ``k`` of ``recs_df`` [user_id, rank, item_id] against ``truth_df``.

    Evaluated users are those of ``truth_df``; a user without recommendations scores 0.

    Returns:
        {"precision@k", "recall@k", "ndcg@k", "map@k", "coverage@k", "eval_users"} -> value.
    """
    top_df = recs_df.filter(F.col("rank") <= k).join(truth_df.select("user_id").distinct(),
                                                      on="user_id", how="inner")
    # The ranked item ids ride along so coverage comes from the persisted rows below instead
    # of recomputing the whole recommendation plan behind ``recs_df``.
    pred_df = (_item_number(item_map_df, top_df).groupBy("user_id")
               .agg(F.array_sort(F.collect_list(F.struct("rank", "num", "item_id"))).alias("ranked"))
               .select("user_id", F.transform("ranked", lambda s: s["num"]).alias("prediction"),
                       F.transform("ranked", lambda s: s["item_id"]).alias("items")))
    label_df = (_item_number(item_map_df, truth_df).groupBy("user_id")
                .agg(F.collect_set("num").alias("label")))
    eval_df = (label_df.join(pred_df, on="user_id", how="left")
               .select(F.coalesce("prediction", F.array().cast("array<double>")).alias("prediction"),
                       "label", "items")
               .persist(StorageLevel.MEMORY_AND_DISK))
    try:
        users = eval_df.count()
        out: dict[str, float] = {"eval_users": float(users)}
        for name, metric in METRICS.items():
            evaluator = RankingEvaluator(predictionCol="prediction", labelCol="label",
                                         metricName=metric, k=k)
            out[f"{name}@{k}"] = float(evaluator.evaluate(eval_df)) if users else 0.0
        covered = eval_df.select(F.explode("items").alias("item_id")).distinct().count()
    finally:
        eval_df.unpersist()
    out[f"coverage@{k}"] = covered / catalog_size if catalog_size else 0.0
    return out


def popularity_recommendations(users_df: DataFrame, popularity_df: DataFrame,
                               purchased_df: DataFrame | None, n: int) -> DataFrame:
    """Baseline: the most popular items the user has not bought. [user_id, rank, item_id, score]."""
    pool_df = top_popular(popularity_df, 2 * n if purchased_df is not None else n)
    pairs_df = (users_df.select("user_id").crossJoin(F.broadcast(pool_df))
                .select("user_id", "item_id", F.col("popularity").alias("score")))
    return top_n(pairs_df.transform(filter_purchased, purchased_df), n, SOURCE_POPULAR)


def similarity_recommendations(users_df: DataFrame, ratings_df: DataFrame, similarity_df: DataFrame,
                               purchased_df: DataFrame | None, n: int) -> DataFrame:
    """Baseline: items similar to what the user interacted with, score = sum(rating * similarity)."""
    scored_df = (ratings_df.join(users_df.select("user_id"), on="user_id", how="inner")
                 .join(similarity_df.select("item_id", "similar_item_id", "score"), on="item_id",
                       how="inner")
                 .groupBy("user_id", F.col("similar_item_id").alias("item_id"))
                 .agg(F.sum(F.col("rating") * F.col("score")).alias("score")))
    return top_n(scored_df.transform(filter_purchased, purchased_df), n, "item_similarity")


def parameter_grid(config: AlsConfig) -> list[AlsParams]:
    """Every (rank, reg_param, alpha) of the tuning grid, in config order."""
    return [AlsParams(r, reg, a) for r, reg, a in itertools.product(
        config.tune_ranks, config.tune_reg_params, config.tune_alphas)]


def choose_best(trials: list[tuple[AlsParams, dict[str, float]]], k: int
                ) -> tuple[AlsParams, dict[str, float]]:
    """The trial with the highest NDCG@k (the earliest in grid order on a tie)."""
    best = trials[0]
    for trial in trials[1:]:
        if trial[1][f"ndcg@{k}"] > best[1][f"ndcg@{k}"]:
            best = trial
    return best
