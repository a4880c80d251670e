"""The als stage end to end on a small seeded taste-group world (Delta in tmp_path).

One stage run is shared by the tests of this module (an ALS fit is the slow part); the
last test reruns the stage, while another writer commits to `events`, and must reproduce the
factors exactly.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections import defaultdict

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.ml.recommendation import ALSModel
from pyspark.sql import Window
from pyspark.sql import functions as F

from recsys_spark.als import recommend as rc
from recsys_spark.als.confidence import build_ratings, end_of_day
from recsys_spark.als.stage import run_als
from recsys_spark.runs import RunContext
from recsys_spark.settings.als import AlsConfig
from recsys_spark.stage_runner import run_stage
from recsys_spark.tables import TableStore
from tests.als.als_world import noon, synthetic_world, write_items
from tests.factories import event, make_config, write_rows
from tests.interference import CommitsBeforeTheFirstWrite

pytestmark = pytest.mark.stage

RUN_DATE = dt.date(2026, 11, 28)
COLD_USER = "u9999"         # in `users`, no events: gets popular items
NDCG_MARGIN = 0.10          # ALS must beat popularity on NDCG@10 by at least this (absolute)
ALS_CONFIG = AlsConfig(rank=8, max_iter=4, reg_param=0.1, alpha=10.0, num_user_blocks=2,
                       num_item_blocks=2, checkpoint_interval=2, window_days=60, holdout_days=7,
                       top_n=10, k=10, candidate_top_categories=2, candidate_items_per_category=10,
                       candidate_popular_items=15, cold_start="popular",
                       # --tune over two grid points (two trial fits, then the final fit)
                       tune_ranks=(8,), tune_reg_params=(0.1,), tune_alphas=(10.0, 40.0))


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("als_stage")
    config = make_config(tmp_path, als=ALS_CONFIG)
    store = TableStore(spark, config.warehouse)
    rows, catalog = synthetic_world(seed=11, run_date=RUN_DATE)
    write_rows(spark, store, "events", rows)
    write_items(spark, store, catalog)
    write_rows(spark, store, "users", [{"user_id": COLD_USER, "signup_date": dt.date(2026, 11, 27),
                                        "region": "eu", "device": "web", "run_id": "t"}])
    ctx = RunContext(config, RUN_DATE, "als")
    report = run_stage(spark, store, ctx, functools.partial(run_als, tune=True))
    return {"config": config, "store": store, "report": report, "rows": rows, "ctx": ctx,
            "versions": dict(report.outputs)}


def _read(world, table):
    return world["store"].read(table, version=world["versions"][table])


def test_als_beats_popularity_on_ndcg_and_tuning_records_every_trial(world):
    rows = _read(world, "model_metrics").collect()
    metrics = {(r["model"], r["metric"]): r["value"] for r in rows}
    params = {r["model"]: dict(r["params"]) for r in rows}
    names = ("eval_users", "precision@10", "recall@10", "ndcg@10", "map@10", "coverage@10")
    models = ("als", "als_trial_00", "als_trial_01", "popularity")
    assert set(metrics) == {(m, k) for m in models for k in names}
    assert {r["split"] for r in rows} == {"chronological_holdout"}
    assert params["als_trial_00"] == {"rank": "8", "reg_param": "0.1", "alpha": "10.0"}
    assert params["als_trial_01"] == {"rank": "8", "reg_param": "0.1", "alpha": "40.0"}
    # The chosen model is the trial with the best NDCG@10, refitted: same params, same figures.
    best = max(("als_trial_00", "als_trial_01"), key=lambda m: metrics[(m, "ndcg@10")])
    assert params["als"] == params[best]
    assert {k: metrics[("als", k)] for k in names} == {k: metrics[(best, k)] for k in names}
    assert dict(kv.split("=") for kv in world["report"].notes["params"].split(",")) == params[best]
    assert metrics[("als", "eval_users")] == 240
    assert metrics[("als", "ndcg@10")] >= metrics[("popularity", "ndcg@10")] + NDCG_MARGIN, metrics


def test_purchased_items_are_never_recommended(world, spark):
    bought = {(r["user_id"], r["item_id"]) for r in world["rows"] if r["event_type"] == "purchase"}
    recs = _read(world, "als_recommendations")
    pairs = {(r["user_id"], r["item_id"]) for r in recs.select("user_id", "item_id").collect()}
    assert len(bought) > 200 and not (pairs & bought)


def test_cold_user_gets_popular_items(world, spark):
    window_start = RUN_DATE - dt.timedelta(days=ALS_CONFIG.window_days - 1)
    users_per_item: dict[str, set[str]] = defaultdict(set)
    for r in world["rows"]:
        if window_start <= r["event_date"] <= RUN_DATE and r["event_type"] in ALS_CONFIG.event_weights:
            users_per_item[r["item_id"]].add(r["user_id"])
    ranked = sorted(users_per_item, key=lambda i: (-len(users_per_item[i]), i))[:10]
    expected = spark.createDataFrame(
        [(COLD_USER, n + 1, item, float(len(users_per_item[item])), "popular")
         for n, item in enumerate(ranked)],
        "user_id string, rank int, item_id string, score double, source string")
    got = (_read(world, "als_recommendations").filter(F.col("user_id") == COLD_USER)
           .select("user_id", "rank", "item_id", "score", "source"))
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_candidate_top_n_equals_full_top_n_restricted_to_candidates(world, spark):
    store, config = world["store"], ALS_CONFIG
    model = ALSModel.load(world["report"].notes["model_uri"])
    id_map = store.read("als_id_map")
    users = id_map.filter("kind = 'user'").select(F.col("id").alias("user_id"),
                                                  F.col("idx").cast("int").alias("uidx"))
    items = id_map.filter("kind = 'item'").select(F.col("id").alias("item_id"),
                                                  F.col("idx").cast("int").alias("iidx"))
    # Full scoring of the whole catalog by MLlib itself.
    full = (model.recommendForAllUsers(1000)
            .select(F.col("user_idx").alias("uidx"), F.explode("recommendations").alias("r"))
            .select("uidx", F.col("r.item_idx").alias("iidx"), F.col("r.rating").alias("score"))
            .join(users, "uidx", "inner").join(items, "iidx", "inner"))
    # The candidate set the stage is meant to use, from its inputs.
    first_day = RUN_DATE - dt.timedelta(days=config.window_days - 1)
    events = store.read("events", partition_filters=[("event_date", ">=", first_day),
                                                     ("event_date", "<=", RUN_DATE)])
    ratings = build_ratings(events, config, end_of_day(RUN_DATE))
    candidates = rc.build_candidates(ratings.select("user_id").distinct(), ratings,
                                     store.read("items").select("item_id", "category"),
                                     rc.item_popularity(ratings), config)
    purchased = rc.purchased_items(events)
    restricted = (full.join(candidates, ["user_id", "item_id"], "inner")
                  .join(purchased, ["user_id", "item_id"], "left_anti"))
    order = Window.partitionBy("user_id").orderBy(F.desc("score"), F.asc("item_id"))
    expected = (restricted.withColumn("rank", F.row_number().over(order))
                .filter(F.col("rank") <= config.top_n)
                .select("user_id", F.col("rank").cast("int"), "item_id",
                        F.col("score").cast("double")))
    got = (_read(world, "als_recommendations").filter("source = 'als'")
           .select("user_id", "rank", "item_id", "score"))
    assert_approx_df_equality(got, expected, 1e-5, ignore_row_order=True, ignore_nullable=True)
    # And the unrestricted top-N does contain purchased items: the exclusion is doing work.
    full_top = full.withColumn("rank", F.row_number().over(order)).filter("rank <= 10")
    assert full_top.join(purchased, ["user_id", "item_id"], "inner").count() > 0


def test_rerun_with_same_seed_gives_same_factors(world, spark):
    # Mid-run, another writer appends a new user's events: the rerun must compute from, and
    # record, the version of `events` it read (else u_late would get factors and an index).
    store = CommitsBeforeTheFirstWrite(spark, world["config"].warehouse)
    events_version = store.version("events")
    store.arm("events", [event(10_000 + n, noon(RUN_DATE - dt.timedelta(days=2)), "click", "u_late",
                               item_id=f"i0{n:03d}") for n in range(5)])
    first_users = _read(world, "als_user_factors").drop("run_id").collect()
    first_items = _read(world, "als_item_factors").drop("run_id").collect()
    first_recs = _read(world, "als_recommendations").drop("run_id").collect()
    map_version = store.version("als_id_map")
    # Same seed and the tuned parameters, no evaluation this time (a plain run).
    chosen = dict(kv.split("=") for kv in world["report"].notes["params"].split(","))
    als = dataclasses.replace(ALS_CONFIG, evaluate=False, rank=int(chosen["rank"]),
                              reg_param=float(chosen["reg_param"]), alpha=float(chosen["alpha"]))
    config = dataclasses.replace(world["config"], als=als)
    run_stage(spark, store, RunContext(config, RUN_DATE, "als"), run_als)
    schema_u = store.read("als_user_factors").drop("run_id").schema
    schema_i = store.read("als_item_factors").drop("run_id").schema
    schema_r = store.read("als_recommendations").drop("run_id").schema
    assert_df_equality(store.read("als_user_factors").drop("run_id"),
                       spark.createDataFrame(first_users, schema_u), ignore_row_order=True)
    assert_df_equality(store.read("als_item_factors").drop("run_id"),
                       spark.createDataFrame(first_items, schema_i), ignore_row_order=True)
    assert_df_equality(store.read("als_recommendations").drop("run_id"),
                       spark.createDataFrame(first_recs, schema_r), ignore_row_order=True)
    assert store.version("als_id_map") == map_version   # no id got a new index
    rerun = store.read("pipeline_runs").orderBy("started_at").collect()[-1]
    assert rerun["inputs"]["events"] == events_version
    assert store.version("events") == store.late_version == events_version + 1
