"""The statistics that compare a simulated world with published figures of real e-commerce logs.

Read from the ground truth's ``true_events`` (every generated event before dirt, bots excluded)
with Spark built-ins; only small aggregates come back to the driver. docs/realistic_world.md
lists them next to the public logs' figures; tests/simulate/test_realistic.py holds a small
realistic world to stated bands.

    python -m recsys_spark.simulate.calibration LANDING [--train-days N]
"""
from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from recsys_spark.domain.events import (
    ADD_TO_CART,
    CLICK,
    ITEM_EVENT_TYPES,
    PROMO_CLICK,
    PROMO_IMPRESSION,
    PROMO_REDEEM,
    PURCHASE,
    VIEW,
)
from recsys_spark.simulate.truth import read_truth, truth_uri

# Event weights of the "user's own history" ranking (as the ALS stage's default confidence weights).
HISTORY_WEIGHTS = {VIEW: 1.0, CLICK: 2.0, ADD_TO_CART: 4.0, PURCHASE: 8.0}
TOP_K = 10


@dataclass(frozen=True)
class WorldStatistics:
    """What :func:`world_statistics` measured (shares are fractions, not percent)."""

    item_events: int
    event_shares: dict[str, float]        # among item events (no promo_* events)
    items_seen: int                       # distinct items viewed
    items_seen_by_at_most_two: float      # share of viewed items viewed by 1-2 visitors
    leaf_categories: int                  # distinct categories of the catalog's items
    categories_touched: int               # distinct categories with an item event
    session_views_quantiles: dict[str, float]  # views per session: p25, p50, p75, p90, p99, max
    single_session_users: float           # logged-in users with one session among those active
    repeat_category_share: float          # returning users' item events on an earlier-day category
    impressions: int
    promo_click_rate: float               # promo_click / promo_impression
    promo_redeem_rate: float              # promo_redeem / promo_impression
    ndcg_own_history: float               # NDCG@10 over the evaluation users (see below)
    ndcg_popularity: float
    evaluated_users: int


def _visitor() -> Column:
    return F.coalesce(F.col("user_id"), F.col("session_id"))


def world_statistics(spark: SparkSession, landing_root: str, train_days: int | None = None,
                     test_days: int = 2) -> WorldStatistics:
    """Measure the world under ``landing_root`` (see :class:`WorldStatistics`).

    The NDCG figures follow issue 21's protocol on real logs: rankings of categories per user
    are built from the first ``train_days`` days (default: all but the last ``test_days``) and
    scored against the categories of each user's non-view item events in the next
    ``test_days`` days. "Own history": the user's categories by event-weighted counts;
    "popularity": the same 10 most popular categories (weighted counts) for everyone.

    Raises:
        ValueError: fewer than ``test_days`` + 1 days in the world.
    """
    events_df = read_truth(spark, landing_root, "true_events").filter(~F.col("is_bot"))
    dates = sorted(r["gen_date"] for r in events_df.select("gen_date").distinct().collect())
    train = len(dates) - test_days if train_days is None else train_days
    if train < 1 or train + test_days > len(dates):
        raise ValueError(f"train_days: {train} training + {test_days} test days do not fit "
                         f"in the {len(dates)} days generated")
    item_df = events_df.filter(F.col("event_type").isin(*ITEM_EVENT_TYPES)).cache()
    try:
        counts = {r["event_type"]: int(r["n"]) for r in
                  events_df.groupBy("event_type").agg(F.count("*").alias("n")).collect()}
        n_item = sum(counts.get(t, 0) for t in ITEM_EVENT_TYPES)
        tail = (item_df.filter(F.col("event_type") == VIEW).groupBy("item_id")
                .agg(F.countDistinct(_visitor()).alias("visitors"))
                .agg(F.count("*").alias("items"),
                     F.avg((F.col("visitors") <= 2).cast("double")).alias("share")).first())
        touched = item_df.select(F.countDistinct("category")).first()[0]
        leaves = (spark.read.parquet(truth_uri(landing_root, "items.parquet"))
                  .select(F.countDistinct("category")).first()[0])
        impressions = counts.get(PROMO_IMPRESSION, 0)
        own, pop, n_eval = _ndcg(item_df, dates[train - 1], dates[train + test_days - 1])
        return WorldStatistics(
            item_events=n_item,
            event_shares={t: counts.get(t, 0) / n_item for t in ITEM_EVENT_TYPES},
            items_seen=int(tail["items"]), items_seen_by_at_most_two=float(tail["share"]),
            leaf_categories=int(leaves), categories_touched=int(touched),
            session_views_quantiles=_session_quantiles(item_df),
            single_session_users=_single_session_users(item_df),
            repeat_category_share=_repeat_category_share(item_df),
            impressions=impressions,
            promo_click_rate=counts.get(PROMO_CLICK, 0) / max(impressions, 1),
            promo_redeem_rate=counts.get(PROMO_REDEEM, 0) / max(impressions, 1),
            ndcg_own_history=own, ndcg_popularity=pop, evaluated_users=n_eval)
    finally:
        item_df.unpersist()


def _session_quantiles(item_df: DataFrame) -> dict[str, float]:
    per_session = (item_df.filter(F.col("event_type") == VIEW).groupBy("session_id")
                   .agg(F.count("*").alias("views")))
    names = ("p25", "p50", "p75", "p90", "p99")
    row = per_session.agg(
        F.percentile("views", F.array(*[F.lit(q) for q in (0.25, 0.5, 0.75, 0.9, 0.99)])).alias("q"),
        F.max("views").alias("max")).first()
    return {**dict(zip(names, (float(q) for q in row["q"]), strict=True)), "max": float(row["max"])}


def _single_session_users(item_df: DataFrame) -> float:
    row = (item_df.filter(F.col("user_id").isNotNull()).groupBy("user_id")
           .agg(F.countDistinct("session_id").alias("sessions"))
           .agg(F.avg((F.col("sessions") == 1).cast("double")).alias("share")).first())
    return float(row["share"])


def _repeat_category_share(item_df: DataFrame) -> float:
    """Among logged-in users' item events on a day after their first active day: the share
    whose category the user had touched on an earlier day."""
    by_user_cat = Window.partitionBy("user_id", "category")
    by_user = Window.partitionBy("user_id")
    row = (item_df.filter(F.col("user_id").isNotNull())
           .withColumn("cat_first", F.min("gen_date").over(by_user_cat))
           .withColumn("user_first", F.min("gen_date").over(by_user))
           .filter(F.col("gen_date") > F.col("user_first"))
           .agg(F.avg((F.col("cat_first") < F.col("gen_date")).cast("double")).alias("share"))
           .first())
    return float(row["share"] or 0.0)


def _ndcg(item_df: DataFrame, last_train: dt.date, last_test: dt.date) -> tuple[float, float, int]:
    """(own-history NDCG@10, popularity NDCG@10, users evaluated); see world_statistics."""
    weight = F.lit(0.0)
    for name, w in HISTORY_WEIGHTS.items():
        weight = F.when(F.col("event_type") == name, F.lit(w)).otherwise(weight)
    users_df = item_df.filter(F.col("user_id").isNotNull())
    train_df = (users_df.filter(F.col("gen_date") <= F.lit(last_train))
                .groupBy("user_id", "category").agg(F.sum(weight).alias("w")))
    relevant_df = (users_df.filter((F.col("gen_date") > F.lit(last_train))
                                   & (F.col("gen_date") <= F.lit(last_test))
                                   & (F.col("event_type") != VIEW))
                   .select("user_id", "category").distinct())
    n_rel_df = relevant_df.groupBy("user_id").agg(F.count("*").alias("n_rel"))
    idcg = F.aggregate(F.sequence(F.lit(1), F.least(F.col("n_rel"), F.lit(TOP_K))), F.lit(0.0),
                       lambda acc, r: acc + 1.0 / F.log2(r + 1))
    by_weight = Window.partitionBy("user_id").orderBy(F.col("w").desc(), F.col("category"))
    own_ranked = (train_df.withColumn("rank", F.row_number().over(by_weight))
                  .filter(F.col("rank") <= TOP_K))
    popular = [r["category"] for r in train_df.groupBy("category").agg(F.sum("w").alias("w"))
               .orderBy(F.col("w").desc(), "category").limit(TOP_K).collect()]
    pop_ranked = relevant_df.select("user_id").distinct().crossJoin(
        item_df.sparkSession.createDataFrame(list(enumerate(popular, start=1)), "rank int, category string"))

    def mean_ndcg(ranked_df: DataFrame) -> tuple[float, int]:
        dcg_df = (ranked_df.join(relevant_df, on=["user_id", "category"], how="inner")
                  .groupBy("user_id").agg(F.sum(1.0 / F.log2(F.col("rank") + 1)).alias("dcg")))
        row = (n_rel_df.join(dcg_df, on="user_id", how="left")
               .agg(F.avg(F.coalesce(F.col("dcg"), F.lit(0.0)) / idcg).alias("ndcg"),
                    F.count("*").alias("users")).first())
        return float(row["ndcg"] or 0.0), int(row["users"])

    own, users = mean_ndcg(own_ranked)
    pop, _ = mean_ndcg(pop_ranked)
    return own, pop, users


def main(argv: Sequence[str] | None = None) -> int:
    """Print a world's statistics (Spark as configured in conf/local.yaml)."""
    parser = argparse.ArgumentParser(prog="python -m recsys_spark.simulate.calibration")
    parser.add_argument("landing", help="landing root written by `recsys simulate`")
    parser.add_argument("--train-days", type=int, default=None)
    args = parser.parse_args(argv)
    from recsys_spark.config import load_config
    from recsys_spark.spark import build_spark_session

    config = load_config()
    spark = build_spark_session(config.spark, "recsys-calibration", config.warehouse.root)
    try:
        stats = world_statistics(spark, args.landing, args.train_days)
    finally:
        spark.stop()
    for name, value in asdict(stats).items():
        print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
