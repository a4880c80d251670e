"""Unit tests of the ALS building blocks on tiny inline data (no model fit)."""
from __future__ import annotations

import datetime as dt
import math

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    DoubleType,
    FloatType,
    IntegerType,
    StringType,
    StructField,
    StructType,
)

from recsys_spark.als import recommend as rc
from recsys_spark.als.confidence import build_ratings, end_of_day
from recsys_spark.als.evaluate import ranking_metrics
from recsys_spark.config import load_config
from recsys_spark.errors import ConfigError
from recsys_spark.settings.als import AlsConfig
from tests.als.als_world import PRICED, noon
from tests.factories import event, frame

pytestmark = pytest.mark.unit

RUN_DATE = dt.date(2026, 11, 28)
FACTORS = StructType([StructField("id", StringType()),
                      StructField("features", ArrayType(FloatType()))])
RECS = StructType([StructField("user_id", StringType()), StructField("rank", IntegerType()),
                   StructField("item_id", StringType()), StructField("score", DoubleType()),
                   StructField("source", StringType(), False)])


def test_ratings_weight_decay_and_log_scaling(spark):
    config = AlsConfig(event_weights={"view": 1.0, "purchase": 8.0}, recency_half_life_days=10.0,
                       log_scaling=True, log_epsilon=2.0)
    day0 = RUN_DATE                                  # 12:00 on run date: age 0.5 days
    day10 = RUN_DATE - dt.timedelta(days=10)         # age 10.5 days
    rows = [event(1, noon(day0), "view", "u1", item_id="i1"),
            event(2, noon(day10), "purchase", "u1", item_id="i1", **PRICED["purchase"]),
            event(3, noon(day0), "remove_from_cart", "u1", item_id="i2"),   # not weighted: no rating
            event(4, noon(day0), "view", None, item_id="i1"),                # anonymous: ignored
            event(5, noon(day0), "promo_click", "u2")]                       # no item: ignored
    got = build_ratings(frame(spark, "events", rows), config, end_of_day(RUN_DATE))
    strength = 1.0 * 0.5 ** (0.5 / 10) + 8.0 * 0.5 ** (10.5 / 10)
    expected = spark.createDataFrame([("u1", "i1", math.log1p(strength / 2.0))],
                                     "user_id string, item_id string, rating double")
    assert_approx_df_equality(got, expected, 1e-12, ignore_nullable=True)


def test_config_errors_name_the_key(tmp_path):
    (tmp_path / "base.yaml").write_text("warehouse: {root: w}\nlanding: {root: l}\n")
    with pytest.raises(ConfigError, match="holdout_days"):
        load_config(tmp_path / "base.yaml", ["als.holdout_days=400"])
    with pytest.raises(ConfigError, match="event_weights"):
        load_config(tmp_path / "base.yaml", ["als.event_weights={like: 1.0}"])
    config = load_config(tmp_path / "base.yaml", ["als.event_weights={view: 1, purchase: 5}"])
    assert config.als.event_weights == {"view": 1.0, "purchase": 5.0}
    assert len(config.fingerprint()) == 8


def test_metrics_equal_hand_computed_values(spark):
    recs = spark.createDataFrame(
        [("a", 1, "i1"), ("a", 2, "i2"), ("a", 3, "i3"), ("a", 4, "i7"),   # rank 4 is beyond k
         ("b", 1, "i4"), ("b", 2, "i5"), ("b", 3, "i6"),
         ("z", 1, "i8")],                                                   # z has no truth
        "user_id string, rank int, item_id string")
    truth = spark.createDataFrame([("a", "i1"), ("a", "i3"), ("a", "i9"), ("b", "i5"), ("c", "i2")],
                                  "user_id string, item_id string")
    # i9 is not in the id map: it still counts as a relevant item nobody recommended.
    item_map = spark.createDataFrame([(f"i{n}", n) for n in range(1, 9)], "id string, idx long")
    got = ranking_metrics(recs, truth, item_map, k=3, catalog_size=10)
    # a: hits at ranks 1 and 3 of 3 relevant; b: hit at rank 2 of 1 relevant; c: no list.
    ideal_a = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    expected = {
        "eval_users": 3.0,
        "precision@3": (2 / 3 + 1 / 3 + 0) / 3,
        "recall@3": (2 / 3 + 1 + 0) / 3,
        "ndcg@3": ((1 + 1 / math.log2(4)) / ideal_a + 1 / math.log2(3) + 0) / 3,
        "map@3": ((1 / 1 + 2 / 3) / 3 + (1 / 2) / 1 + 0) / 3,
        "coverage@3": 6 / 10,   # i1..i6 in the evaluated users' top-3 lists
    }
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-12), name


def _factors(spark, rows):
    return spark.createDataFrame(rows, FACTORS)


def test_recommend_warm_scores_only_candidates_and_excludes_purchases(spark):
    config = AlsConfig(top_n=2, candidate_top_categories=1, candidate_items_per_category=2,
                       candidate_popular_items=1)
    # u1 likes category "a.x"; u2 likes "b.y". Popularity: i1 (3 users) > i3 (2) > others (1).
    ratings = spark.createDataFrame(
        [("u1", "i1", 2.0), ("u1", "i2", 1.0), ("u2", "i3", 3.0), ("u2", "i1", 0.5),
         ("u3", "i1", 1.0), ("u3", "i3", 1.0), ("u3", "i5", 1.0)],
        "user_id string, item_id string, rating double")
    item_cat = spark.createDataFrame(
        [("i1", "a.x"), ("i2", "a.x"), ("i4", "a.x"), ("i3", "b.y"), ("i5", "b.y"), ("i6", "c.z")],
        "item_id string, category string")
    users = spark.createDataFrame([("u1",), ("u2",)], "user_id string")
    popularity = rc.item_popularity(ratings)
    # Candidates: u1 -> a.x's 2 most popular (i1, i2) + popular i1; u2 -> b.y's (i3, i5) + i1.
    candidates = rc.build_candidates(users, ratings, item_cat, popularity, config)
    assert_df_equality(candidates, spark.createDataFrame(
        [("u1", "i1"), ("u1", "i2"), ("u2", "i1"), ("u2", "i3"), ("u2", "i5")],
        "user_id string, item_id string"), ignore_row_order=True, ignore_nullable=True)
    user_f = _factors(spark, [("u1", [1.0, 0.0]), ("u2", [0.0, 1.0])]).withColumnRenamed("id", "user_id")
    # i6 scores highest for both users but is no candidate; i4 too for u1.
    item_f = _factors(spark, [("i1", [0.9, 0.1]), ("i2", [0.5, 0.5]), ("i3", [0.1, 0.8]),
                              ("i4", [0.95, 0.0]), ("i5", [0.2, 0.6]), ("i6", [5.0, 5.0])]
                      ).withColumnRenamed("id", "item_id")
    purchased = spark.createDataFrame([("u2", "i3")], "user_id string, item_id string")
    got = rc.recommend_warm(users, ratings, item_cat, popularity, purchased, user_f, item_f, config)
    expected = spark.createDataFrame(
        [("u1", 1, "i1", 0.9), ("u1", 2, "i2", 0.5), ("u2", 1, "i5", 0.6), ("u2", 2, "i1", 0.1)],
        "user_id string, rank int, item_id string, score double"
    ).withColumn("source", F.lit("als"))
    assert_approx_df_equality(got, expected, 1e-6, ignore_row_order=True, ignore_nullable=True)
    # Without exclusion the bought i3 (score 0.8) comes back first for u2.
    kept = rc.recommend_warm(users, ratings, item_cat, popularity, None, user_f, item_f, config)
    assert [r["item_id"] for r in kept.filter("user_id = 'u2'").orderBy("rank").collect()] == \
        ["i3", "i5"]


def test_recommend_warm_breaks_score_ties_by_item_id_and_skips_users_without_factors(spark):
    config = AlsConfig(top_n=3, candidate_top_categories=1, candidate_items_per_category=3,
                       candidate_popular_items=1)
    ratings = spark.createDataFrame([("u1", "ib", 1.0), ("u1", "ia", 1.0), ("u2", "ic", 1.0),
                                     ("u3", "ia", 1.0)],
                                    "user_id string, item_id string, rating double")
    item_cat = spark.createDataFrame([("ia", "a.x"), ("ib", "a.x"), ("ic", "a.x")],
                                     "item_id string, category string")
    users = spark.createDataFrame([("u1",), ("u3",)], "user_id string")
    user_f = _factors(spark, [("u1", [1.0, 0.0])]).withColumnRenamed("id", "user_id")
    # ib and ic tie with ia at 0.5 for u1: item_id decides. u3 has no factors: nothing here.
    item_f = _factors(spark, [("ia", [0.5, 0.1]), ("ib", [0.5, 0.9]), ("ic", [0.5, -3.0])]
                      ).withColumnRenamed("id", "item_id")
    got = rc.recommend_warm(users, ratings, item_cat, rc.item_popularity(ratings), None, user_f,
                            item_f, config)
    expected = spark.createDataFrame(
        [("u1", 1, "ia", 0.5, "als"), ("u1", 2, "ib", 0.5, "als"), ("u1", 3, "ic", 0.5, "als")],
        "user_id string, rank int, item_id string, score double, source string")
    assert_approx_df_equality(got, expected, 1e-6, ignore_row_order=True, ignore_nullable=True)


def test_cold_start_uses_segment_then_popular_and_marks_source(spark):
    ratings = spark.createDataFrame(
        [("w1", "i1", 1.0), ("w2", "i1", 1.0), ("w3", "i1", 1.0), ("w1", "i2", 1.0),
         ("w2", "i2", 1.0), ("w3", "i3", 1.0), ("w4", "i4", 1.0)],
        "user_id string, item_id string, rating double")
    segments = spark.createDataFrame([("w3", "s1"), ("w4", "s1"), ("c1", "s1"), ("c2", "s9")],
                                     "user_id string, segment_id string")
    cold = spark.createDataFrame([("c1",), ("c2",), ("c3",)], "user_id string")
    purchased = spark.createDataFrame([("c1", "i3")], "user_id string, item_id string")
    got = rc.recommend_cold(cold, ratings, rc.item_popularity(ratings), segments, purchased, n=3)
    # Segment s1 (w3, w4) likes i1, i3, i4 once each; c1 bought i3. s9 has no history.
    expected = spark.createDataFrame(
        [("c1", 1, "i1", 1.0, "segment"), ("c1", 2, "i4", 1.0, "segment"),
         ("c1", 3, "i2", 2.0, "popular"),
         ("c2", 1, "i1", 3.0, "popular"), ("c2", 2, "i2", 2.0, "popular"),
         ("c2", 3, "i3", 1.0, "popular"),
         ("c3", 1, "i1", 3.0, "popular"), ("c3", 2, "i2", 2.0, "popular"),
         ("c3", 3, "i3", 1.0, "popular")], RECS)
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_category_affinity_is_user_factor_dot_category_mean(spark):
    user_f = _factors(spark, [("u1", [1.0, 2.0])]).withColumnRenamed("id", "user_id")
    item_f = _factors(spark, [("i1", [1.0, 0.0]), ("i2", [3.0, 2.0]), ("i3", [0.5, 0.5])]
                      ).withColumnRenamed("id", "item_id")
    item_cat = spark.createDataFrame([("i1", "a.x"), ("i2", "a.y"), ("i3", "b.z")],
                                     "item_id string, category string")
    got = rc.category_affinity(user_f, item_f, item_cat)
    # a: mean [2, 1] -> 1*2 + 2*1 = 4; b: [0.5, 0.5] -> 1.5
    expected = spark.createDataFrame([("u1", "a", 4.0), ("u1", "b", 1.5)],
                                     "user_id string, category string, score double")
    assert_approx_df_equality(got, expected, 1e-9, ignore_row_order=True, ignore_nullable=True)




def test_cli_rejects_bad_als_config_before_spark(tmp_path, capsys):
    from recsys_spark.cli import main

    (tmp_path / "base.yaml").write_text("warehouse: {root: w}\nlanding: {root: l}\n")
    code = main(["als", "--config", str(tmp_path / "base.yaml"), "--run-date", "2026-11-28",
                 "--set", "als.rank=0"])
    assert code == 2
    assert "als.rank: must be >= 1" in capsys.readouterr().err
