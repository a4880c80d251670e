"""The similarity stage on a seeded synthetic world: tables written, rerun identical (also when
another writer commits to `events` mid-run), and the similarity recommendations beat popularity
on the held-out day by a stated margin."""
from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from recsys_spark.runs import RunContext
from recsys_spark.settings.similarity import SimilarityConfig
from recsys_spark.similarity.stage import run_similarity
from recsys_spark.stage_runner import run_stage
from recsys_spark.tables import CommitInfo
from tests.factories import EVENTS_PARTITIONS, event, frame, make_config
from tests.interference import CommitsBeforeTheFirstWrite
from tests.similarity.sim_rows import clustered_world

RUN_DATE = dt.date(2026, 11, 5)  # the world's last day: held out by the evaluation
# Hit-rate@10 of similarity must beat popularity by at least this much (absolute). With 85 % of
# views inside one 10-item taste category, neighbours of recent items cover the next new item
# most of the time, while the global top 10 mostly does not.
MARGIN = 0.25


@pytest.mark.stage
def test_similarity_stage_beats_popularity_and_reruns_identically(spark, tmp_path):
    cfg = SimilarityConfig(top_k=10, eval_k=10, min_support=2, half_life_days=7.0)
    config = make_config(tmp_path, similarity=cfg)
    store = CommitsBeforeTheFirstWrite(spark, config.warehouse)
    store.write(frame(spark, "events", clustered_world()), "events", "overwrite",
                CommitInfo(run_id="setup", stage="clean"), partition_by=EVENTS_PARTITIONS)

    run_stage(spark, store, RunContext(config, RUN_DATE, "similarity"), run_similarity)
    metrics = {(r.model, r.metric): r.value for r in store.read("model_metrics").collect()}
    sim_hit, pop_hit = metrics[("similarity_cosine", "hit_rate@10")], metrics[("popularity", "hit_rate@10")]
    sim_ndcg, pop_ndcg = metrics[("similarity_cosine", "ndcg@10")], metrics[("popularity", "ndcg@10")]
    print(f"hit@10 similarity {sim_hit:.3f} popularity {pop_hit:.3f}; "
          f"ndcg@10 {sim_ndcg:.3f} vs {pop_ndcg:.3f}; users {metrics[('popularity', 'eval_users')]}")
    # Users with training history and a new item on the held-out day (136 of 180 in this world).
    assert metrics[("popularity", "eval_users")] == metrics[("similarity_cosine", "eval_users")] >= 100
    assert sim_hit >= pop_hit + MARGIN
    assert sim_ndcg > pop_ndcg

    first_df = store.read("item_similarity").drop("run_id").cache()
    # Ranks are 1..n without gaps per item, at most top_k, best score first.
    bad = (first_df.groupBy("item_id").agg(F.max("rank").alias("m"), F.count("*").alias("n"))
           .filter((F.col("m") != F.col("n")) | (F.col("n") > 10)).count())
    assert bad == 0
    # Top neighbours of an item are in its own taste category (the collaborative structure).
    own = first_df.filter(F.col("rank") == 1).select(
        (F.substring("item_id", 2, 2) == F.substring("similar_item_id", 2, 2)).alias("same")).collect()
    assert sum(r.same for r in own) / len(own) >= 0.9

    # Rerun of the same date: the partition is replaced with identical rows, although another
    # writer commits two new users' views of two new items (a pair it would rank) mid-run: the
    # rerun computes from, and records, the version of `events` it read.
    store.arm("events", [event(9000 + n, "2026-11-04", "view", user, item_id=item, category="c9.sub")
                         for n, (user, item) in enumerate([("u_late0", "i900"), ("u_late0", "i901"),
                                                           ("u_late1", "i900"), ("u_late1", "i901")])])
    run_stage(spark, store, RunContext(config, RUN_DATE, "similarity"), run_similarity)
    again_df = store.read("item_similarity").drop("run_id")
    assert_df_equality(again_df.orderBy("item_id", "rank"), first_df.orderBy("item_id", "rank"))
    rerun = store.read("pipeline_runs").orderBy("started_at").collect()[-1]
    assert dict(rerun["inputs"]) == {"events": 0} and store.late_version == 1
