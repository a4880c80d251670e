"""ALS at scale: seconds per iteration per 1M interactions, and candidate-restricted scoring
against MLlib's recommendForAllUsers (time and the JVM's peak resident memory).

    .venv/bin/python benchmarks/bench_als.py --events 100000              # small, quick
    .venv/bin/python benchmarks/bench_als.py --events 1000000
    .venv/bin/python benchmarks/bench_als.py --events 10000000 --scoring  # the full comparison

Events are generated in Spark (users lean to one taste category, items have a popular head),
turned into ratings with the stage's own confidence code, and fitted with the stage's own
``fit_als``. s/iteration is the slope between two fits with different maxIter (so session
start, input persisting and the final factor materialisation cancel out), divided by the
number of interactions (distinct user-item ratings) in millions. Each scoring method runs in
its own child process (fresh JVM), so VmHWM of that JVM is the method's peak memory.
Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys_spark.als import recommend as rc
from recsys_spark.als.confidence import build_ratings, end_of_day
from recsys_spark.als.train import ITEM_IDX, USER_IDX, AlsParams, fit_als
from recsys_spark.settings.als import AlsConfig
from recsys_spark.settings.core import SparkConfig
from recsys_spark.spark import build_spark_session

RUN_DATE = dt.date(2026, 11, 30)
DAYS = 28
N_CATS = 40


def synthetic_events(spark: SparkSession, n: int, seed: int = 5) -> DataFrame:
    """``n`` item events (user_id, item_id, category, event_type, event_time, event_date)."""
    n_users, n_items = max(n // 25, 20), max(n // 200, 50)
    user = F.floor(F.pow(F.rand(seed), 2.0) * n_users).cast("long")
    taste = F.pmod(F.xxhash64(user), F.lit(N_CATS))
    per_cat = max(n_items // N_CATS, 1)
    taste_item = taste * per_cat + F.floor(F.pow(F.rand(seed + 1), 2.0) * per_cat).cast("long")
    popular_item = F.floor(F.pow(F.rand(seed + 2), 4.0) * n_items).cast("long")
    item = F.when(F.rand(seed + 3) < 0.8, taste_item).otherwise(popular_item)
    kind = F.rand(seed + 4)
    day = F.floor(F.rand(seed + 5) * DAYS).cast("int")
    base = dt.datetime.combine(RUN_DATE - dt.timedelta(days=DAYS - 1), dt.time(0),
                               tzinfo=dt.timezone.utc)
    return spark.range(n).select(
        F.concat(F.lit("u"), user.cast("string")).alias("user_id"),
        F.concat(F.lit("i"), item.cast("string")).alias("item_id"),
        F.concat(F.lit("c"), F.pmod(item, F.lit(N_CATS)).cast("string"), F.lit(".x")).alias("category"),
        F.when(kind < 0.7, "view").when(kind < 0.9, "click").when(kind < 0.97, "add_to_cart")
        .otherwise("purchase").alias("event_type"),
        (F.lit(base) + F.make_interval(days=day, secs=F.rand(seed + 6) * 86000)).alias("event_time"),
        F.date_add(F.lit(base.date()), day).alias("event_date"))


def indexed(ratings_df: DataFrame) -> DataFrame:
    """Bench shortcut for the id map: the numeric part of the synthetic ids."""
    return ratings_df.select(F.substring("user_id", 2, 20).cast("int").alias(USER_IDX),
                             F.substring("item_id", 2, 20).cast("int").alias(ITEM_IDX), "rating")


def session(args: argparse.Namespace, scratch: str) -> SparkSession:
    return build_spark_session(
        SparkConfig(master=args.master, shuffle_partitions=args.partitions,
                    driver_memory=args.driver_memory, checkpoint_dir=f"{scratch}/checkpoints",
                    extra={"spark.local.dir": f"{scratch}/local"}),
        "bench-als", scratch)


def prepare(spark: SparkSession, events: int) -> tuple[DataFrame, DataFrame]:
    events_df = synthetic_events(spark, events).cache()
    ratings_df = build_ratings(events_df, AlsConfig(), end_of_day(RUN_DATE)).cache()
    return events_df, ratings_df


def bench_fit(args: argparse.Namespace) -> None:
    scratch = tempfile.mkdtemp(prefix="bench-als-")
    spark = session(args, scratch)
    _, ratings_df = prepare(spark, args.events)
    n_ratings = ratings_df.count()
    idx_df = indexed(ratings_df).cache()
    idx_df.count()
    config = AlsConfig(num_user_blocks=args.blocks, num_item_blocks=args.blocks,
                       checkpoint_interval=args.checkpoint_interval)
    params = AlsParams(rank=args.rank, reg_param=0.1, alpha=10.0)
    # Untimed warm-up fit: JIT compilation and first-use costs would otherwise land on one side.
    fit_als(idx_df, dataclasses.replace(config, max_iter=1), params, seed=1)
    times = {}
    for iters in (args.iters_low, args.iters_high):
        started = time.perf_counter()
        fit_als(idx_df, dataclasses.replace(config, max_iter=iters), params, seed=1)
        times[iters] = time.perf_counter() - started
    per_iter = (times[args.iters_high] - times[args.iters_low]) / (args.iters_high - args.iters_low)
    print(f"fit: {args.events:,} events -> {n_ratings:,} interactions, rank {args.rank}, "
          f"blocks {args.blocks}: maxIter {args.iters_low}: {times[args.iters_low]:.1f} s, "
          f"maxIter {args.iters_high}: {times[args.iters_high]:.1f} s -> {per_iter:.2f} s/iteration, "
          f"{per_iter / (n_ratings / 1e6):.2f} s/iteration per 1M interactions")
    spark.stop()


def jvm_peak_rss_mb(spark: SparkSession) -> float:
    """VmHWM (peak resident set) of the local JVM, in MB (bench-only use of the gateway)."""
    pid = spark.sparkContext._gateway.proc.pid  # type: ignore[union-attr]
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_scoring_child(args: argparse.Namespace) -> None:
    """One scoring method in this (child) process; prints one JSON line."""
    scratch = tempfile.mkdtemp(prefix="bench-als-score-")
    spark = session(args, scratch)
    events_df, ratings_df = prepare(spark, args.events)
    config = AlsConfig(rank=args.rank, max_iter=2, top_n=20, num_user_blocks=args.blocks,
                       num_item_blocks=args.blocks, candidate_items_per_category=100,
                       candidate_popular_items=50)
    model = fit_als(indexed(ratings_df), config, AlsParams.from_config(config), seed=1)
    base_rss = jvm_peak_rss_mb(spark)
    started = time.perf_counter()
    if args.score_mode == "all":
        out_df = model.recommendForAllUsers(config.top_n)
    else:
        users_df = model.userFactors.select(F.concat(F.lit("u"), F.col("id").cast("string"))
                                            .alias("user_id"), "features")
        items_df = model.itemFactors.select(F.concat(F.lit("i"), F.col("id").cast("string"))
                                            .alias("item_id"), "features")
        item_cat_df = events_df.select("item_id", "category").distinct()
        out_df = rc.recommend_warm(users_df.select("user_id"), ratings_df, item_cat_df,
                                   rc.item_popularity(ratings_df), rc.purchased_items(events_df),
                                   users_df, items_df, config)
    out_df.write.format("noop").mode("overwrite").save()
    seconds = time.perf_counter() - started
    print(json.dumps({"mode": args.score_mode, "seconds": seconds,
                      "jvm_peak_rss_mb_before": base_rss, "jvm_peak_rss_mb": jvm_peak_rss_mb(spark)}))
    spark.stop()


def bench_scoring(args: argparse.Namespace) -> None:
    for mode in ("all", "candidates"):
        cmd = [sys.executable, __file__, "--events", str(args.events), "--rank", str(args.rank),
               "--blocks", str(args.blocks), "--master", args.master, "--partitions",
               str(args.partitions), "--driver-memory", args.driver_memory, "--score-mode", mode]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        print(f"scoring ({mode:10s}) at {args.events:,} events: {result['seconds']:.1f} s, "
              f"JVM peak RSS {result['jvm_peak_rss_mb']:.0f} MB "
              f"(after fit: {result['jvm_peak_rss_mb_before']:.0f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--checkpoint-interval", type=int, default=5)
    parser.add_argument("--iters-low", type=int, default=2)
    parser.add_argument("--iters-high", type=int, default=6)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--driver-memory", default="3g")
    parser.add_argument("--scoring", action="store_true",
                        help="also compare recommendForAllUsers with candidate scoring")
    parser.add_argument("--no-fit", action="store_true", help="skip the s/iteration measurement")
    parser.add_argument("--score-mode", choices=["all", "candidates"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.score_mode:
        bench_scoring_child(args)
        return
    if not args.no_fit:
        bench_fit(args)
    if args.scoring:
        bench_scoring(args)


if __name__ == "__main__":
    main()
