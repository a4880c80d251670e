"""Bandit stage and OPE timings on synthetic inputs (prints figures; never asserted).

    .venv/bin/python benchmarks/bench_bandit.py --users 2000 --promotions 50 --draws 100
    .venv/bin/python benchmarks/bench_bandit.py --users 100000 ...   # the 100k / 1M figures
    .venv/bin/python benchmarks/bench_bandit.py --ope-impressions 1000000
    .venv/bin/python benchmarks/bench_bandit.py --users 1000000 --driver-memory 6g --shuffle-partitions 16

Inputs are generated in Spark (spark.range), written to a temp warehouse, then the stage runs
through run_stage exactly as `recsys bandit` does. Peak resident memory of the JVM and of the
Python processes (driver and Arrow/pandas workers) is sampled during the stage.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from floors import floors_of, print_table  # noqa: E402  (benchmarks/floors.py, beside this script)
from memory import RssSampler  # noqa: E402  (benchmarks/memory.py, beside this script)
from pyspark.sql import functions as F  # noqa: E402

from recsys_spark.bandit.ope import estimate_policy_value  # noqa: E402
from recsys_spark.bandit.stage import run_bandit  # noqa: E402
from recsys_spark.config import AppConfig  # noqa: E402
from recsys_spark.runs import RunContext  # noqa: E402
from recsys_spark.settings.bandit import BanditConfig  # noqa: E402
from recsys_spark.settings.core import LandingConfig, SparkConfig, WarehouseConfig  # noqa: E402
from recsys_spark.spark import build_spark_session  # noqa: E402
from recsys_spark.stage_runner import run_stage  # noqa: E402
from recsys_spark.tables import CommitInfo, TableStore  # noqa: E402

RUN_DATE = dt.date(2026, 11, 20)
TYPES = ["percent_off", "amount_off_over_threshold", "gift", "free_shipping", "coupon"]


def make_inputs(spark, store, users: int, promotions: int, impressions: int) -> None:
    commit = CommitInfo(run_id="bench", stage="bench")
    promos_df = spark.range(promotions).select(
        F.format_string("p%03d", "id").alias("promotion_id"), F.format_string("P%03d", "id").alias("name"),
        F.element_at(F.array(*[F.lit(t) for t in TYPES]),
                     (F.col("id") % 5 + 1).cast("int")).alias("promo_type"),
        F.lit(0.1).alias("discount_value"), F.lit(0.0).alias("min_spend"),
        F.array().cast("array<string>").alias("eligible_categories"),
        F.lit(dt.date(2026, 11, 1)).alias("start_date"), F.lit(dt.date(2026, 11, 30)).alias("end_date"),
        (F.lit(users // 20) + F.col("id") * 10).cast("long").alias("budget"), F.lit("b").alias("run_id"))
    store.write(promos_df, "promotions", "overwrite", commit)
    users_df = spark.range(users).select(F.format_string("u%07d", "id").alias("user_id"), "id")
    store.write(users_df.select("user_id", F.format_string("s%d", F.col("id") % 8).alias("segment_id"),
                                F.lit("x").alias("rfm_segment"), F.lit("b").alias("run_id"),
                                F.lit(RUN_DATE).alias("run_date")), "user_segments", "overwrite", commit,
                partition_by=["run_date"])
    scores_df = users_df.crossJoin(spark.range(promotions).withColumnRenamed("id", "pid")).select(
        "user_id", F.format_string("p%03d", "pid").alias("promotion_id"),
        (F.lit(0.02) + F.lit(0.1) * F.rand(1)).alias("p_response"), F.lit("m").alias("model_run_id"),
        F.lit("b").alias("run_id"), F.lit(RUN_DATE).alias("run_date"))
    store.write(scores_df, "promotion_scores", "overwrite", commit, partition_by=["run_date"])
    ev_df = spark.range(impressions).select(
        F.format_string("e%012d", "id").alias("event_id"),
        (F.lit(int(dt.datetime(2026, 11, 6, tzinfo=dt.timezone.utc).timestamp())) + F.col("id") % (14 * 86400)
         ).cast("timestamp").alias("event_time"),
        F.when(F.rand(2) < 0.05, "promo_redeem").otherwise("promo_impression").alias("event_type"),
        F.format_string("u%07d", (F.col("id") * 7919) % users).alias("user_id"),
        F.format_string("p%03d", F.col("id") % promotions).alias("promotion_id"),
        F.lit(1).cast("int").alias("position"), F.lit(0.3).alias("propensity"))
    ev_df = ev_df.withColumn("event_date", F.to_date("event_time"))
    for name, typ in [("session_id", "string"), ("item_id", "string"), ("category", "string"),
                      ("brand", "string"), ("price", "double"), ("quantity", "int"), ("policy", "string"),
                      ("source", "string"), ("source_file", "string"), ("ingested_run_id", "string")]:
        ev_df = ev_df.withColumn(name, F.lit(None).cast(typ))
    ev_df = ev_df.withColumn("extra", F.create_map().cast("map<string,string>"))
    store.write(ev_df, "events", "overwrite", commit, partition_by=["event_date"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--promotions", type=int, default=50)
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--policy", default="thompson")
    ap.add_argument("--ope-impressions", type=int, default=20000)
    ap.add_argument("--driver-memory", default="2g")
    ap.add_argument("--shuffle-partitions", type=int, default=4)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-bandit-"))
    config = AppConfig(warehouse=WarehouseConfig(root=str(tmp / "wh"), backend="delta_rs"),
                       landing=LandingConfig(root=str(tmp / "landing")),
                       spark=SparkConfig(master="local[2]", shuffle_partitions=args.shuffle_partitions,
                                         driver_memory=args.driver_memory),
                       bandit=BanditConfig(policy=args.policy, propensity_draws=args.draws))
    spark = build_spark_session(config.spark, "bench-bandit", config.warehouse.root)
    store = TableStore(spark, config.warehouse)
    t0 = time.time()
    make_inputs(spark, store, args.users, args.promotions, impressions=args.users * 2)
    print(f"inputs: {args.users} users x {args.promotions} promotions in {time.time() - t0:.1f}s")
    sampler = RssSampler(os.getpid()).start()
    t0, load = time.time(), os.getloadavg()[0]
    ctx = RunContext(config, RUN_DATE, "bandit")
    report = run_stage(spark, store, ctx, run_bandit)
    t1 = time.time()
    sampler.stop()
    print_table([floors_of(spark, store, ctx, report, t1 - t0, load, tmp / "floors")])
    python_mb, jvm_mb = sampler.peak_between(t0, t1)
    print(f"bandit stage ({args.policy}, K={args.draws}): {t1 - t0:.1f}s  "
          f"slots={report.metrics['slots_filled']:.0f} quality={report.quality}  "
          f"peak RSS: JVM {jvm_mb:.0f} MB, Python {python_mb:.0f} MB")
    n = args.ope_impressions
    samples_df = spark.range(n).select(
        F.format_string("s%d", "id").alias("sample_id"), (F.rand(3) < 0.05).cast("double").alias("reward"),
        F.lit(1 / 34).alias("pscore"), (F.rand(4) / 17).alias("pi_e"), F.lit(0.05).alias("q_hat"),
        F.lit(0.05).alias("dm_value")).localCheckpoint(eager=True)
    t0 = time.time()
    estimates = estimate_policy_value(samples_df, seed=1, replicates=200, blocks=1000)
    print(f"ope on {n} impressions (4 estimators, 200 bootstrap replicates): {time.time() - t0:.1f}s")
    for e in estimates:
        print(f"  {e.estimator}: {e.estimate:.6g} [{e.ci_lower:.6g}, {e.ci_upper:.6g}] n={e.n}")
    spark.stop()


if __name__ == "__main__":
    main()
