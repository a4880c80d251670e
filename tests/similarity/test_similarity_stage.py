"""The similarity stage on a seeded synthetic world: every candidate judged on the validation and
test windows, the validation winner's lists published, co-occurrence beating popularity by a
stated margin, and a rerun identical."""
from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from recsys_spark.runs import RunContext
from recsys_spark.settings.ranking import RankingConfig
from recsys_spark.settings.similarity import SimilarityConfig
from recsys_spark.similarity.stage import run_similarity
from recsys_spark.stage_runner import run_stage
from tests.factories import event, make_config, write_rows
from tests.interference import CommitsBeforeTheFirstWrite
from tests.similarity.sim_rows import clustered_world

RUN_DATE = dt.date(2026, 11, 5)  # the world's last day: the test window; 11-04 validates
# Hit-rate@10 of co-occurrence must beat global popularity by at least this much (absolute). With
# 85 % of views inside one 10-item taste category, neighbours of recent items cover the next
# items most of the time, while the global top 10 mostly does not.
MARGIN = 0.25
CANDIDATES = ("popularity", "category_popularity", "cooccurrence_cosine", "cooccurrence_jaccard",
              "cooccurrence_lift")


@pytest.mark.stage
def test_similarity_stage_chooses_on_validation_and_reruns_identically(spark, tmp_path):
    cfg = SimilarityConfig(top_k=10, min_support=2, half_life_days=7.0)
    # The world has only views: here they are what users engage with.
    ranking = RankingConfig(relevant_event_types=("view",))
    config = make_config(tmp_path, similarity=cfg, ranking=ranking)
    store = CommitsBeforeTheFirstWrite(spark, config.warehouse)
    write_rows(spark, store, "events", clustered_world())   # the contract's partitioning

    report = run_stage(spark, store, RunContext(config, RUN_DATE, "similarity"), run_similarity)
    rows = store.read("model_metrics").collect()
    metric = {(r.model, r.split, r.metric): r.value for r in rows}
    print({k: round(v, 3) for k, v in metric.items() if k[2] in ("ndcg@10", "hit_rate@10") and v})
    for split in ("validation", "test"):
        assert {metric[(m, split, "eval_users")] for m in CANDIDATES} == {180.0}
        cosine, popular = (metric[(m, split, "hit_rate@10")] for m in ("cooccurrence_cosine", "popularity"))
        assert cosine >= popular + MARGIN, (split, cosine, popular)
    (published,) = [r for r in rows if r.model == "published"]
    winner = published.params["candidate"]
    assert metric[(winner, "validation", "ndcg@10")] == max(
        metric[(m, "validation", "ndcg@10")] for m in CANDIDATES)
    assert published.value == metric[(winner, "test", "ndcg@10")]
    assert report.notes["neighbours.published"] == winner

    first_df = store.read("item_similarity").drop("run_id").cache()
    assert {r.method for r in first_df.select("method").distinct().collect()} == {winner}
    # Ranks are 1..n without gaps per item, at most top_k, best score first; never the item itself.
    bad = (first_df.groupBy("item_id").agg(F.max("rank").alias("m"), F.count("*").alias("n"))
           .filter((F.col("m") != F.col("n")) | (F.col("n") > 10)).count())
    assert bad == 0 and first_df.filter(F.col("item_id") == F.col("similar_item_id")).count() == 0
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
