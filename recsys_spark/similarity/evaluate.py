"""Offline evaluation on a time split: the run date is held out, the days before train.

Task: next-item prediction. For each known user with training history, the target is the
first item (by event_time, event_id) the user touched on the held-out day that is NOT in their
training history. Both recommenders exclude the user's training items:
- similarity: score(j) = sum of sim(i, j) over the user's ``eval_recent_items`` most recent
  training items i (top-K neighbour lists of a model fit on the training days only);
- popularity: items by distinct training contexts (users and sessions), best first.
hit_rate@K = share of users whose target is in their top K; NDCG@K = mean of 1/log2(rank + 1)
for a hit, 0 otherwise (one relevant item, so the ideal DCG is 1).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from recsys_spark.settings.similarity import SimilarityConfig
from recsys_spark.similarity.model import compute_similarity, release

SPLIT = "holdout_day"


def _history(train_df: DataFrame) -> DataFrame:
    """user_id, item_id, last_time over the training item events of known users."""
    return (train_df.filter(F.col("user_id").isNotNull())
            .groupBy("user_id", "item_id").agg(F.max("event_time").alias("last_time")))


def next_items(test_df: DataFrame, history_df: DataFrame) -> DataFrame:
    """user_id, target: the first held-out item per user that is new to them."""
    order = Window.partitionBy("user_id").orderBy(F.col("event_time").asc(), F.col("event_id").asc())
    new_df = test_df.filter(F.col("user_id").isNotNull()).join(
        history_df.select("user_id", "item_id"), on=["user_id", "item_id"], how="left_anti")
    return (new_df.withColumn("pos", F.row_number().over(order)).filter(F.col("pos") == 1)
            .join(history_df.select("user_id").distinct(), on="user_id", how="left_semi")
            .select("user_id", F.col("item_id").alias("target")))


def similarity_recs(history_df: DataFrame, top_df: DataFrame, users_df: DataFrame, recent: int, k: int
                    ) -> DataFrame:
    """user_id, item_id, rank (1..k) from the neighbours of each user's recent items."""
    order = Window.partitionBy("user_id").orderBy(F.col("last_time").desc(), F.col("item_id").asc())
    recent_df = (history_df.join(users_df, on="user_id", how="left_semi")
                 .withColumn("pos", F.row_number().over(order)).filter(F.col("pos") <= recent))
    cand_df = (recent_df.select("user_id", "item_id")
               .join(top_df.select("item_id", "similar_item_id", "score"), on="item_id", how="inner")
               .groupBy("user_id", F.col("similar_item_id").alias("item_id"))
               .agg(F.sum("score").alias("score"))
               .join(history_df.select("user_id", "item_id"), on=["user_id", "item_id"], how="left_anti"))
    rank = Window.partitionBy("user_id").orderBy(F.col("score").desc(), F.col("item_id").asc())
    return cand_df.withColumn("rank", F.row_number().over(rank)).filter(F.col("rank") <= k)


def popularity_recs(train_df: DataFrame, history_df: DataFrame, users_df: DataFrame, k: int,
                    spare: int) -> DataFrame:
    """user_id, item_id, rank (1..k): the most popular training items the user has not touched.

    Only the top ``k + spare`` items are crossed with the users (a small broadcast list), so the
    cross join is users x (k + spare) rows; a user with more than ``spare`` of those items in
    their history gets fewer than k recommendations.
    """
    pop_df = (train_df.select("item_id", F.coalesce(F.concat(F.lit("u|"), "user_id"),
                                                    F.concat(F.lit("s|"), "session_id")).alias("ctx"))
              .groupBy("item_id").agg(F.count_distinct("ctx").alias("score")))
    best = Window.orderBy(F.col("score").desc(), F.col("item_id").asc())
    short_df = pop_df.withColumn("pos", F.row_number().over(best)).filter(F.col("pos") <= k + spare)
    cand_df = (users_df.crossJoin(F.broadcast(short_df.select("item_id", "score")))
               .join(history_df.select("user_id", "item_id"), on=["user_id", "item_id"], how="left_anti"))
    rank = Window.partitionBy("user_id").orderBy(F.col("score").desc(), F.col("item_id").asc())
    return cand_df.withColumn("rank", F.row_number().over(rank)).filter(F.col("rank") <= k)


def hit_metrics(targets_df: DataFrame, recs_df: DataFrame) -> tuple[int, float | None, float | None]:
    """(users, hit_rate, ndcg) of ``recs_df`` against one target per user."""
    joined = targets_df.join(recs_df.select("user_id", F.col("item_id").alias("target"), "rank"),
                             on=["user_id", "target"], how="left")
    row = joined.agg(F.count("*").alias("n"),
                     F.avg(F.when(F.col("rank").isNotNull(), 1.0).otherwise(0.0)).alias("hit"),
                     F.avg(F.coalesce(1.0 / F.log2(F.col("rank") + 1.0), F.lit(0.0))).alias("ndcg")
                     ).collect()[0]
    return int(row["n"]), row["hit"], row["ndcg"]


def evaluate_holdout(events_df: DataFrame, cfg: SimilarityConfig, run_date: dt.date, seed: int
                     ) -> list[dict[str, Any]]:
    """model_metrics rows for similarity and popularity on the held-out run date.

    ``events_df`` covers the lookback including ``run_date``; the training days end the day before.
    """
    weights = list(cfg.event_weights.as_dict())
    item_events_df = events_df.filter(F.col("event_type").isin(*weights) & F.col("item_id").isNotNull())
    train_df = item_events_df.filter(F.col("event_date") < F.lit(run_date))
    test_df = item_events_df.filter(F.col("event_date") == F.lit(run_date))
    train_end = run_date - dt.timedelta(days=1)
    model = compute_similarity(train_df, cfg, train_end, seed)
    history_df = _history(train_df).persist()
    targets_df = next_items(test_df, history_df).persist()
    users_df = targets_df.select("user_id")
    k = cfg.eval_k
    results = {
        f"similarity_{cfg.measure}": similarity_recs(history_df, model.top_df, users_df,
                                                     cfg.eval_recent_items, k),
        "popularity": popularity_recs(train_df, history_df, users_df, k, cfg.max_history_per_user),
    }
    params = {"k": k, "measure": cfg.measure, "top_k": cfg.top_k, "train_end": train_end.isoformat(),
              "recent_items": cfg.eval_recent_items}
    rows: list[dict[str, Any]] = []
    for name, recs_df in results.items():
        n, hit, ndcg = hit_metrics(targets_df, recs_df)
        rows += [{"model": name, "metric": f"hit_rate@{k}", "value": hit, "split": SPLIT, "params": params},
                 {"model": name, "metric": f"ndcg@{k}", "value": ndcg, "split": SPLIT, "params": params},
                 {"model": name, "metric": "eval_users", "value": float(n), "split": SPLIT,
                  "params": params}]
    targets_df.unpersist()
    history_df.unpersist()
    release(model)
    return rows
