"""Benchmark of the response stage: training time and scored pairs per second.

Generates a synthetic promotion log in Spark (true logistic response on user activity,
category match and promotion), writes it as the clean tables of a temporary warehouse, runs the
stage, then re-scores the eligible pairs with the saved model into a no-op sink to time scoring
alone. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_response.py --events 50000          # small
    .venv/bin/python benchmarks/bench_response.py --events 1000000 --users 100000
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
from recsys_spark.domain.promotions import servable_promotions, user_categories
from recsys_spark.response.feature_set import OptionalInputs, candidate_spec
from recsys_spark.response.model import ResponseModel
from recsys_spark.response.scoring import candidate_users, eligible_pairs, score_pairs
from recsys_spark.response.stage import model_path, run_response
from recsys_spark.runs import RunContext
from recsys_spark.settings.core import LandingConfig, SparkConfig, WarehouseConfig
from recsys_spark.settings.response import ResponseConfig
from recsys_spark.spark import build_spark_session
from recsys_spark.stage_runner import run_stage
from recsys_spark.tables import CommitInfo, TableStore

RUN_DATE = dt.date(2026, 11, 20)
DAYS = 19
CATEGORIES = ["electronics", "fashion", "home", "garden"]
PROMOS = [  # id, type, value, min_spend, eligible, base logit
    ("p1", "percent_off", 0.1, 0.0, [], -2.8), ("p2", "percent_off", 0.3, 0.0, ["electronics"], -2.2),
    ("p3", "free_shipping", 4.9, 0.0, [], -2.6), ("p4", "amount_off_over_threshold", 10.0, 50.0,
                                                   ["fashion"], -2.5),
    ("p5", "coupon", 0.2, 0.0, ["home"], -2.0), ("p6", "gift", 15.0, 0.0, ["garden", "home"], -2.4),
    ("p7", "percent_off", 0.15, 20.0, ["garden"], -2.3), ("p8", "coupon", 0.05, 0.0, [], -3.0)]


def _u(expr: F.Column, salt: int) -> F.Column:
    """A deterministic uniform [0, 1) from a hash of ``expr``."""
    return (F.abs(F.xxhash64(expr, F.lit(salt))) % 1_000_000) / 1_000_000.0


def generate(spark: SparkSession, n_events: int, n_users: int) -> tuple[DataFrame, DataFrame, DataFrame]:
    """events, promotions, users DataFrames with the contract columns."""
    promo_df = spark.createDataFrame(
        [(p, f"promo {p}", t, v, m, e, dt.date(2026, 10, 1), dt.date(2026, 12, 31), 10**9, "bench")
         for p, t, v, m, e, _ in PROMOS],
        "promotion_id string, name string, promo_type string, discount_value double, "
        "min_spend double, eligible_categories array<string>, start_date date, end_date date, "
        "budget long, run_id string")
    users_df = (spark.range(n_users).select(F.format_string("u%07d", "id").alias("user_id"))
                .select("user_id", F.lit(None).cast("date").alias("signup_date"),
                        F.lit(None).cast("string").alias("region"),
                        F.lit(None).cast("string").alias("device"), F.lit("bench").alias("run_id")))
    cats = F.array(*[F.lit(c) for c in CATEGORIES])
    user = F.format_string("u%07d", (_u(F.col("id"), 1) * n_users).cast("long"))
    fav = F.element_at(cats, (_u(F.col("user_id"), 2) * len(CATEGORIES)).cast("int") + 1)
    activity = (_u(F.col("user_id"), 3) * 7).cast("int")
    n_imp = n_events // 2
    start = dt.datetime(2026, 11, 1)
    imp_df = (spark.range(n_imp)
              .select("id", user.alias("user_id"))
              .withColumn("fav", fav).withColumn("activity", activity)
              .withColumn("pidx", (_u(F.col("id"), 4) * len(PROMOS)).cast("int"))
              .withColumn("event_time", F.lit(start) + F.make_dt_interval(
                  secs=(_u(F.col("id"), 5) * DAYS * 86_400).cast("decimal(18,6)")))
              .withColumn("position", (_u(F.col("id"), 6) * 3).cast("int") + 1))
    promo_arr = F.array(*[F.struct(F.lit(p).alias("id"), F.array(*[F.lit(c) for c in e])
                                   .cast("array<string>").alias("elig"), F.lit(b).alias("base"))
                          for p, _, _, _, e, b in PROMOS])
    promo = F.element_at(promo_arr, F.col("pidx") + 1)
    logit = (promo["base"] + 0.35 * F.col("activity")
             + 1.3 * F.array_contains(promo["elig"], F.col("fav")).cast("double")
             - 0.3 * (F.col("position") - 1))
    imp_df = (imp_df.withColumn("promotion_id", promo["id"])
              .withColumn("responded", _u(F.col("id"), 7) < 1 / (1 + F.exp(-logit))))
    base = dict(session_id=F.lit("s"), brand=F.lit(None).cast("string"),
                source=F.lit("bench"), source_file=F.lit("bench"), ingested_run_id=F.lit("bench"),
                extra=F.create_map().cast("map<string,string>"), policy=F.lit("uniform"))

    def shape(df: DataFrame, **cols: F.Column) -> DataFrame:
        values = {**base, **cols}
        return df.select(
            values["event_id"].alias("event_id"), values["event_time"].alias("event_time"),
            F.to_date(values["event_time"]).alias("event_date"), values["event_type"].alias("event_type"),
            values["user_id"].alias("user_id"), values["session_id"].alias("session_id"),
            values.get("item_id", F.lit(None)).cast("string").alias("item_id"),
            values.get("category", F.lit(None)).cast("string").alias("category"),
            values["brand"].alias("brand"), values.get("price", F.lit(None)).cast("double").alias("price"),
            values.get("quantity", F.lit(None)).cast("int").alias("quantity"),
            values.get("promotion_id", F.lit(None)).cast("string").alias("promotion_id"),
            values.get("position", F.lit(None)).cast("int").alias("position"),
            values.get("propensity", F.lit(None)).cast("double").alias("propensity"),
            values["policy"].alias("policy"), values["source"].alias("source"),
            values["source_file"].alias("source_file"),
            values["ingested_run_id"].alias("ingested_run_id"), values["extra"].alias("extra"))

    impressions = shape(imp_df, event_id=F.format_string("i%d", "id"), event_time=F.col("event_time"),
                        event_type=F.lit("promo_impression"), user_id=F.col("user_id"),
                        promotion_id=F.col("promotion_id"), position=F.col("position"),
                        propensity=F.lit(1 / len(PROMOS)))
    clicks = shape(imp_df.filter("responded"), event_id=F.format_string("c%d", "id"),
                   event_time=F.col("event_time") + F.expr("INTERVAL 30 MINUTES"),
                   event_type=F.lit("promo_click"), user_id=F.col("user_id"),
                   promotion_id=F.col("promotion_id"))
    # Item history in October: `activity` purchases and 2 views per user, in the favourite category.
    hist_df = (users_df.select("user_id").withColumn("fav", fav)
               .withColumn("activity", activity)
               .withColumn("k", F.explode(F.sequence(F.lit(0), F.col("activity") + 1))))
    history = shape(hist_df, event_id=F.format_string("h%s_%d", "user_id", "k"),
                    event_time=F.lit(dt.datetime(2026, 10, 1)) + F.make_dt_interval(
                        days=(F.col("k") + 1).cast("int")),
                    event_type=F.when(F.col("k") < 2, "view").otherwise("purchase"),
                    user_id=F.col("user_id"), item_id=F.lit("i1"),
                    category=F.concat(F.col("fav"), F.lit(".sub")),
                    price=F.when(F.col("k") >= 2, 20.0), quantity=F.when(F.col("k") >= 2, 1))
    return impressions.unionByName(clicks).unionByName(history), promo_df, users_df


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-response-"))
    config = AppConfig(warehouse=WarehouseConfig(root=str(root / "wh"), backend="delta_rs"),
                       landing=LandingConfig(root=str(root / "landing")),
                       spark=SparkConfig(master=args.master, shuffle_partitions=8),
                       response=ResponseConfig(test_days=2))
    spark = build_spark_session(config.spark, "bench-response", config.warehouse.root)
    store = TableStore(spark, config.warehouse)
    events_df, promo_df, users_df = generate(spark, args.events, args.users)
    commit = CommitInfo(run_id="bench", stage="bench")
    t0 = time.time()
    store.write(events_df, "events", "overwrite", commit, partition_by=["event_date"])
    store.write(promo_df, "promotions", "overwrite", commit)
    store.write(users_df, "users", "overwrite", commit)
    n_events = store.read("events").count()
    print(f"generated {n_events} events for {args.users} users in {time.time() - t0:.1f}s")

    ctx = RunContext(config, RUN_DATE, "response")
    t0, load = time.time(), os.getloadavg()[0]
    report = run_stage(spark, store, ctx, run_response)
    stage_s = time.time() - t0
    print_table([floors_of(spark, store, ctx, report, stage_s, load, root / "floors")])
    print(f"stage: {stage_s:.1f}s total; {report.rows_in} labelled impressions; "
          f"{report.rows_out} pairs scored; AUC {report.metrics['auc_roc']:.4f} vs per-promotion "
          f"{report.metrics['baseline_promotion_auc_roc']:.4f}; ECE {report.metrics['ece']:.4f}")

    # Scoring alone, with the saved model, into a no-op sink.
    cfg = config.response
    model = ResponseModel.load(model_path(store.root, ctx.run_id))
    events = store.read("events")
    promos = store.read("promotions")
    pairs_df = eligible_pairs(candidate_users(store.read("users"), events, None, cfg, RUN_DATE),
                              servable_promotions(promos, events, RUN_DATE),
                              user_categories(events, None, RUN_DATE), cfg.targeting)
    t0 = time.time()
    scores_df = score_pairs(pairs_df, model, candidate_spec(OptionalInputs()), events, promos,
                            OptionalInputs(), cfg, RUN_DATE, ctx.run_id)
    scores_df.write.format("noop").mode("overwrite").save()
    score_s = time.time() - t0
    pairs = report.rows_out
    print(f"scoring: {pairs} pairs in {score_s:.1f}s = {pairs / score_s:,.0f} pairs/s; "
          f"training+metrics+writes ~ {stage_s - score_s:.1f}s")
    spark.stop()


if __name__ == "__main__":
    main()
