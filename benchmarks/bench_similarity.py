"""Similarity stage at scale: stage time and pairs emitted per second, and (optionally) a naive
full self-join on user for comparison.

    .venv/bin/python benchmarks/bench_similarity.py --events 20000 --naive    # small, quick
    .venv/bin/python benchmarks/bench_similarity.py --events 1000000 --naive
    .venv/bin/python benchmarks/bench_similarity.py --events 10000000

Events are generated in Spark (no driver rows): users and items are skewed (a few heavy users,
a few very popular items) and users lean toward one category, so both the caps and the skew
handling matter. Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

from floors import floors_of, print_table
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys_spark.config import AppConfig
from recsys_spark.runs import RunContext
from recsys_spark.settings.core import LandingConfig, SparkConfig, WarehouseConfig
from recsys_spark.settings.similarity import SimilarityConfig
from recsys_spark.similarity.stage import run_similarity
from recsys_spark.spark import build_spark_session
from recsys_spark.stage_runner import run_stage
from recsys_spark.tables import CommitInfo, TableStore

RUN_DATE = dt.date(2026, 11, 30)
DAYS = 14


def synthetic_events(spark: SparkSession, n: int, seed: int = 11) -> DataFrame:
    """``n`` events with the clean `events` columns that the similarity stage reads."""
    n_users, n_items, n_cats = max(n // 40, 10), max(n // 100, 20), 20
    u = F.rand(seed)
    # pow(u, 3) piles users near id 0: a few users get very long histories.
    user = F.floor(F.pow(u, 3.0) * n_users).cast("long")
    taste = F.pmod(F.xxhash64(user), F.lit(n_cats))
    per_cat = max(n_items // n_cats, 1)
    popular_item = F.floor(F.pow(F.rand(seed + 1), 4.0) * n_items).cast("long")  # heavy head
    taste_item = taste * per_cat + F.floor(F.rand(seed + 2) * per_cat).cast("long")
    item = F.when(F.rand(seed + 3) < 0.7, taste_item).otherwise(popular_item)
    kind = F.rand(seed + 4)
    day = F.floor(F.rand(seed + 5) * DAYS).cast("int")
    base = dt.datetime.combine(RUN_DATE - dt.timedelta(days=DAYS - 1), dt.time(0), tzinfo=dt.timezone.utc)
    return (spark.range(n).select(
        F.concat(F.lit("e"), F.col("id").cast("string")).alias("event_id"),
        (F.lit(base) + F.make_interval(days=day, secs=F.rand(seed + 6) * 86000)).alias("event_time"),
        F.date_add(F.lit(base.date()), day).alias("event_date"),
        F.when(kind < 0.8, "view").when(kind < 0.95, "add_to_cart").otherwise("purchase").alias("event_type"),
        F.concat(F.lit("u"), user.cast("string")).alias("user_id"),
        F.concat(F.lit("s"), user.cast("string"), F.lit("-"), day.cast("string"),
                 F.lit("-"), F.floor(F.rand(seed + 7) * 2).cast("string")).alias("session_id"),
        F.concat(F.lit("i"), item.cast("string")).alias("item_id"),
        F.concat(F.lit("c"), F.pmod(item, F.lit(n_cats)).cast("string"), F.lit(".x")).alias("category"),
        F.lit(None).cast("string").alias("brand"), F.lit(10.0).alias("price"),
        F.lit(1).alias("quantity"), F.lit(None).cast("string").alias("promotion_id"),
        F.lit(None).cast("int").alias("position"), F.lit(None).cast("double").alias("propensity"),
        F.lit(None).cast("string").alias("policy"), F.lit("bench").alias("source"),
        F.lit("bench").alias("source_file"), F.lit("bench").alias("ingested_run_id"),
        F.create_map().cast("map<string,string>").alias("extra")))


def emitted_pairs(store: TableStore, cfg: SimilarityConfig) -> int:
    """Pairs the capped self-join emits: sum over contexts of m*(m-1)/2, m = capped history."""
    from recsys_spark.similarity.cooccurrence import context_items, with_event_weight

    entries_df = context_items(with_event_weight(store.read("events"), cfg, RUN_DATE), cfg)
    per = entries_df.groupBy("context_id").count()
    return int(per.agg(F.sum(F.col("count") * (F.col("count") - 1) / 2)).collect()[0][0] or 0)


def naive_self_join(store: TableStore) -> tuple[float, int, int]:
    """Every pair of a user's events, aggregated to item pairs: (seconds, raw pairs, item pairs)."""
    ev = store.read("events").filter(F.col("event_type").isin("view", "add_to_cart", "purchase"))
    left = ev.select("user_id", F.col("item_id").alias("i"), F.col("event_id").alias("ei"))
    right = ev.select("user_id", F.col("item_id").alias("j"), F.col("event_id").alias("ej"))
    joined = left.join(right, on="user_id", how="inner").filter(F.col("ei") != F.col("ej"))
    start = time.time()
    row = joined.groupBy("i", "j").agg(F.count("*").alias("c")).agg(
        F.sum("c").alias("raw"), F.count("*").alias("pairs")).collect()[0]
    return time.time() - start, int(row["raw"] or 0), int(row["pairs"] or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--naive", action="store_true", help="also time the naive full self-join")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    root = Path(args.workdir or tempfile.mkdtemp(prefix="bench-similarity-"))
    spark_cfg = SparkConfig(master=args.master, shuffle_partitions=8, driver_memory="3g")
    cfg = SimilarityConfig()
    config = AppConfig(warehouse=WarehouseConfig(root=str(root / "warehouse"), backend="delta_rs"),
                       landing=LandingConfig(root=str(root / "landing")), spark=spark_cfg, similarity=cfg)
    spark = build_spark_session(spark_cfg, "bench-similarity", config.warehouse.root)
    store = TableStore(spark, config.warehouse)
    start = time.time()
    store.write(synthetic_events(spark, args.events), "events", "overwrite",
                CommitInfo(run_id="bench", stage="bench"), partition_by=["event_date"])
    print(f"events: {args.events:,} generated and written in {time.time() - start:.1f}s")

    start, load = time.time(), os.getloadavg()[0]
    ctx = RunContext(config, RUN_DATE, "similarity")
    report = run_stage(spark, store, ctx, run_similarity)
    stage_s = time.time() - start
    print_table([floors_of(spark, store, ctx, report, stage_s, load, root / "floors")])
    pairs = emitted_pairs(store, cfg)
    print(f"similarity stage: {stage_s:.1f}s (incl. category rollups and the held-out-day evaluation)")
    print(f"  capped self-join pairs emitted: {pairs:,} -> {pairs / stage_s:,.0f} pairs/s; "
          f"distinct pairs after support: {int(report.metrics['pairs_after_support']):,}; "
          f"neighbour rows: {int(report.metrics['similarity_rows']):,}")
    k = cfg.eval_k
    sim = report.metrics.get(f"similarity_cosine.hit_rate@{k}", float("nan"))
    pop = report.metrics.get(f"popularity.hit_rate@{k}", float("nan"))
    print(f"  hit_rate@{k}: similarity {sim:.3f} vs popularity {pop:.3f}")
    if args.naive:
        naive_s, raw, distinct = naive_self_join(store)
        print(f"naive full self-join on user: {naive_s:.1f}s, {raw:,} event pairs, "
              f"{distinct:,} item pairs; "
              f"pair ratio naive/capped {raw / max(pairs, 1):.1f}x, time ratio naive/stage "
              f"{naive_s / stage_s:.2f}x")
    spark.stop()


if __name__ == "__main__":
    main()
