"""Candidates on tiny inline cuts: the blend's features, ALS over keys against a numpy product,
completion (exclusions, popular filler), the neighbour baselines."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from chispa import assert_approx_df_equality, assert_df_equality

from recsys_spark.ranking.blend import blend_features
from recsys_spark.ranking.candidate import Cut, complete
from recsys_spark.ranking.key_als import KeyAls, KeyAlsParams
from recsys_spark.ranking.neighbours import PopularNeighbours

pytestmark = pytest.mark.unit

DAY = dt.date(2026, 11, 10)
LIST = "user_id string, category string, score double"
HISTORY = "user_id string, category string, strength double, last_time timestamp"


def cut_of(spark, history, popularity, exclude=None, key="category") -> Cut:
    history_df = spark.createDataFrame(
        [(u, k, s, dt.datetime(2026, 11, 1) + dt.timedelta(minutes=n))
         for n, (u, k, s) in enumerate(history)],
        HISTORY.replace("category", key))
    popularity_df = spark.createDataFrame(popularity, f"{key} string, popularity double")
    exclude_df = (spark.createDataFrame(exclude, f"user_id string, {key} string")
                  if exclude is not None else None)
    return Cut("validation", DAY, key, history_df, history_df, popularity_df, None, exclude_df)


def test_blend_features_are_reciprocal_ranks_and_scaled_scores(spark):
    lists = {"own": spark.createDataFrame([("u1", "a", 4.0), ("u1", "b", 2.0)], LIST),
             "als": spark.createDataFrame([("u1", "b", -0.5), ("u1", "c", 1.0)], LIST)}
    got_df = blend_features(lists, "category")
    expected_df = spark.createDataFrame([
        # rr_own, ns_own, rr_als, ns_als
        ("u1", "a", 1.0, 1.0, 0.0, 0.0),
        ("u1", "b", 0.5, 0.5, 0.5, -0.5),
        ("u1", "c", 0.0, 0.0, 1.0, 1.0),
    ], "user_id string, category string, rr_own double, ns_own double, rr_als double, ns_als double")
    assert_approx_df_equality(got_df, expected_df, 1e-12, ignore_row_order=True, ignore_nullable=True)


def test_complete_removes_exclusions_and_fills_with_popular_keys(spark):
    cut = cut_of(spark, [], [("a", 5.0), ("b", 4.0), ("c", 3.0), ("d", 1.0)],
                 exclude=[("u1", "b"), ("u1", "x")])
    top_df = spark.createDataFrame([("u1", "x", 9.0), ("u1", "d", 2.0)], LIST)
    users_df = spark.createDataFrame([("u1",), ("u2",)], "user_id string")
    got_df = complete(top_df, cut, users_df, 3, "own")
    # u1: x is excluded, d is its own; then a, c (b excluded); u2: the popular a, b, c
    expected_df = spark.createDataFrame([
        ("u1", 1, "d", 2.0, "own"), ("u1", 2, "a", 5.0, "popular"), ("u1", 3, "c", 3.0, "popular"),
        ("u2", 1, "a", 5.0, "popular"), ("u2", 2, "b", 4.0, "popular"), ("u2", 3, "c", 3.0, "popular"),
    ], "user_id string, rank int, category string, score double, source string")
    assert_df_equality(got_df, expected_df, ignore_row_order=True, ignore_nullable=True)


def test_category_als_top_n_equals_the_full_product_of_its_factors(spark):
    rng = np.random.default_rng(3)
    history = [(f"u{u}", f"c{c:02d}", float(rng.integers(1, 9)))
               for u in range(30) for c in rng.choice(12, size=4, replace=False)]
    cut = cut_of(spark, history, [])
    fitted = KeyAls("category_als", KeyAlsParams(rank=4, max_iter=5, blocks=2), seed=5).fit(cut)
    try:
        users_df = spark.createDataFrame([(f"u{u}",) for u in range(30)] + [("nobody",)], "user_id string")
        got_df = fitted.top(users_df, 3)
        users = {r["u"]: r["user_id"] for r in fitted.user_index_df.collect()}
        keys = {r["k"]: r["category"] for r in fitted.key_index_df.collect()}
        factors = {users[r["id"]]: np.array(r["features"], dtype=np.float64)
                   for r in fitted.model.userFactors.collect()}
        key_rows = fitted.model.itemFactors.collect()
        key_ids = [keys[r["id"]] for r in key_rows]
        key_factors = np.array([r["features"] for r in key_rows], dtype=np.float64)
        expected = []
        for user, uf in factors.items():
            values = key_factors @ uf
            for position in sorted(range(len(values)), key=lambda i: (-values[i], key_ids[i]))[:3]:
                expected.append((user, key_ids[position], float(values[position])))
        expected_df = spark.createDataFrame(expected, LIST)
        assert len(factors) == 30 and sorted(key_ids) == [f"c{c:02d}" for c in range(12)]
        # MLlib scores in float32: the same top 3, scores to float precision
        assert_approx_df_equality(got_df, expected_df, 1e-5, ignore_row_order=True,
                                  ignore_nullable=True)
    finally:
        fitted.release()


def test_category_popularity_neighbours_are_the_categorys_popular_items(spark):
    cut = cut_of(spark, [], [("i1", 5.0), ("i2", 4.0), ("i3", 3.0), ("i4", 2.0), ("i5", 9.0)],
                 key="item_id")
    item_cat_df = spark.createDataFrame([("i1", "a"), ("i2", "a"), ("i3", "a"), ("i4", "b"),
                                         ("i5", "b")], "item_id string, category string")
    fitted = PopularNeighbours("category_popularity", 2, 10, item_cat_df).fit(cut)
    got_df = fitted.neighbours_df.select("item_id", "similar_item_id", "score", "rank")
    expected_df = spark.createDataFrame([
        ("i1", "i2", 4.0, 1), ("i1", "i3", 3.0, 2), ("i2", "i1", 5.0, 1), ("i2", "i3", 3.0, 2),
        ("i3", "i1", 5.0, 1), ("i3", "i2", 4.0, 2), ("i4", "i5", 9.0, 1), ("i5", "i4", 2.0, 1),
    ], "item_id string, similar_item_id string, score double, rank int")
    assert_df_equality(got_df, expected_df, ignore_row_order=True, ignore_nullable=True)
    fitted.release()
