"""Exact SAR measures on a hand-computed example, deterministic top-K, the history cap, weights."""
from __future__ import annotations

import datetime as dt
import math

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql.types import DoubleType, IntegerType, LongType, StringType, StructField, StructType

from recsys_spark.settings.similarity import SimilarityConfig
from recsys_spark.similarity.categories import category_affinity, item_categories
from recsys_spark.similarity.cooccurrence import context_items, with_event_weight
from recsys_spark.similarity.measures import top_k
from recsys_spark.similarity.model import compute_similarity
from tests.factories import event, frame

AS_OF = dt.date(2026, 11, 30)
EXACT = dict(contexts="user", half_life_days=None, min_support=1, top_k=10,
             max_contexts_per_item=None)
OUT = StructType([StructField("item_id", StringType()), StructField("similar_item_id", StringType()),
                  StructField("score", DoubleType()), StructField("rank", IntegerType()),
                  StructField("support", LongType())])

# Users' items (one view each): u1 {A,B,C}, u2 {A,B}, u3 {A,C}, u4 {B,D}.
# Diagonal (users per item): A 3, B 3, C 2, D 1. Co-counts: AB 2, AC 2, BC 1, BD 1.
BASKETS = {"u1": "ABC", "u2": "AB", "u3": "AC", "u4": "BD"}
CATEGORY = {"A": "x.1", "B": "x.2", "C": "y.1", "D": "z.1"}

EXPECTED = {
    "cosine": [("A", "C", 2 / math.sqrt(6), 1, 2), ("A", "B", 2 / 3, 2, 2),
               ("B", "A", 2 / 3, 1, 2), ("B", "D", 1 / math.sqrt(3), 2, 1),
               ("B", "C", 1 / math.sqrt(6), 3, 1),
               ("C", "A", 2 / math.sqrt(6), 1, 2), ("C", "B", 1 / math.sqrt(6), 2, 1),
               ("D", "B", 1 / math.sqrt(3), 1, 1)],
    "jaccard": [("A", "C", 2 / 3, 1, 2), ("A", "B", 0.5, 2, 2),
                ("B", "A", 0.5, 1, 2), ("B", "D", 1 / 3, 2, 1), ("B", "C", 0.25, 3, 1),
                ("C", "A", 2 / 3, 1, 2), ("C", "B", 0.25, 2, 1),
                ("D", "B", 1 / 3, 1, 1)],
    "lift": [("A", "C", 1 / 3, 1, 2), ("A", "B", 2 / 9, 2, 2),
             ("B", "D", 1 / 3, 1, 1), ("B", "A", 2 / 9, 2, 2), ("B", "C", 1 / 6, 3, 1),
             ("C", "A", 1 / 3, 1, 2), ("C", "B", 1 / 6, 2, 1),
             ("D", "B", 1 / 3, 1, 1)],
}


def basket_rows() -> list[dict]:
    rows, n = [], 0
    for user, items in BASKETS.items():
        for item in items:
            n += 1
            rows.append(event(n, "2026-11-30", "view", user, item_id=item, category=CATEGORY[item]))
    return rows


@pytest.mark.unit
@pytest.mark.parametrize("measure", ["cosine", "jaccard", "lift"])
def test_sar_measures_exact_on_hand_computed_example(spark, measure):
    cfg = SimilarityConfig(measure=measure, **EXACT)
    result = compute_similarity(frame(spark, "events", basket_rows()), cfg, AS_OF, seed=1)
    got_df = result.top_df.select("item_id", "similar_item_id", "score", "rank", "support")
    expected_df = spark.createDataFrame(EXPECTED[measure], OUT)
    assert_approx_df_equality(got_df.orderBy("item_id", "rank"), expected_df, 1e-12, ignore_nullable=True)
    assert {r.method for r in result.top_df.select("method").distinct().collect()} == {measure}


@pytest.mark.unit
def test_category_affinity_rolls_up_item_blocks(spark):
    cfg = SimilarityConfig(measure="cosine", **EXACT)
    events_df = frame(spark, "events", basket_rows())
    result = compute_similarity(events_df, cfg, AS_OF, seed=1)
    got_df = category_affinity(result.pairs_df, result.diag_df, item_categories(events_df, None),
                               "cosine", 10)
    got_df = got_df.select("category", "similar_category", "score", "rank", "support")
    # Blocks: x={A,B} diag 6, y={C} 2, z={D} 1; x-y co-occurrence AC+BC = 3, x-z BD = 1.
    expected_df = spark.createDataFrame([
        ("x", "y", 3 / math.sqrt(12), 1, 3), ("x", "z", 1 / math.sqrt(6), 2, 1),
        ("y", "x", 3 / math.sqrt(12), 1, 3), ("z", "x", 1 / math.sqrt(6), 1, 1),
    ], "category string, similar_category string, score double, rank int, support long")
    assert_approx_df_equality(got_df.orderBy("category", "rank"), expected_df, 1e-12, ignore_nullable=True)


@pytest.mark.unit
def test_top_k_breaks_ties_by_similar_item_id(spark):
    scores_df = spark.createDataFrame(
        [("A", "z", 0.5, 1), ("A", "b", 0.5, 1), ("A", "m", 0.9, 1), ("A", "c", 0.5, 1), ("B", "q", 0.1, 1)],
        "item_id string, similar_item_id string, score double, support long")
    got_df = top_k(scores_df, 3).select("item_id", "similar_item_id", "rank")
    expected_df = spark.createDataFrame([("A", "m", 1), ("A", "b", 2), ("A", "c", 3), ("B", "q", 1)],
                                        "item_id string, similar_item_id string, rank int")
    assert_df_equality(got_df.orderBy("item_id", "rank"), expected_df, ignore_nullable=True)
    # Same answer whatever the input partitioning.
    shuffled_df = (top_k(scores_df.repartition(3, "similar_item_id"), 3)
                   .select("item_id", "similar_item_id", "rank"))
    assert_df_equality(shuffled_df.orderBy("item_id", "rank"), expected_df, ignore_nullable=True)


@pytest.mark.unit
def test_history_cap_keeps_strongest_items_before_the_self_join(spark):
    # u1 touches 6 items; purchases outweigh carts outweigh views. Cap 3 keeps p1, p2 (purchase)
    # and c1 (cart); ties among the views are never reached.
    rows = [event(1, "2026-11-30", "purchase", "u1", item_id="p1", price=1.0, quantity=1),
            event(2, "2026-11-29", "purchase", "u1", item_id="p2", price=1.0, quantity=1),
            event(3, "2026-11-30", "add_to_cart", "u1", item_id="c1", price=1.0),
            event(4, "2026-11-30", "view", "u1", item_id="v1"),
            event(5, "2026-11-30", "view", "u1", item_id="v2"),
            event(6, "2026-11-30", "view", "u1", item_id="v3"),
            event(7, "2026-11-30", "view", "u2", item_id="v1")]
    cfg = SimilarityConfig(contexts="user", half_life_days=None, max_history_per_user=3, min_support=1,
                           max_contexts_per_item=None)
    events_df = frame(spark, "events", rows)
    entries_df = (context_items(with_event_weight(events_df, cfg, AS_OF), cfg)
                  .select("context_id", "item_id", "a"))
    expected_df = spark.createDataFrame(
        [("u|u1", "c1", 3.0), ("u|u1", "p1", 5.0), ("u|u1", "p2", 5.0), ("u|u2", "v1", 1.0)],
        "context_id string, item_id string, a double")
    assert_df_equality(entries_df.orderBy("context_id", "item_id"), expected_df, ignore_nullable=True)
    pairs = compute_similarity(events_df, cfg, AS_OF, 1).pairs_df.select("item_i", "item_j").collect()
    assert sorted(tuple(r) for r in pairs) == [("c1", "p1"), ("c1", "p2"), ("p1", "p2")]


@pytest.mark.unit
def test_event_weight_decays_with_half_life(spark):
    rows = [event(0, "2026-10-31", "purchase", "u1", item_id="a", price=1.0, quantity=1, hour=0),
            event(0, "2026-11-30", "add_to_cart", "u1", item_id="b", price=1.0, hour=0)]
    cfg = SimilarityConfig(half_life_days=30.0)
    got = {r.item_id: r.w for r in with_event_weight(frame(spark, "events", rows), cfg, AS_OF).collect()}
    # Ages from the end of 2026-11-30: 31 days and 1 day.
    assert got["a"] == pytest.approx(5.0 * 0.5 ** (31 / 30), rel=1e-12)
    assert got["b"] == pytest.approx(3.0 * 0.5 ** (1 / 30), rel=1e-12)


@pytest.mark.unit
def test_heavy_item_sampling_is_deterministic_and_unbiased_enough(spark):
    # Item H is in all 400 user contexts, item J in 200 of them; cap H and J at 100 contexts.
    rows, n = [], 0
    for u in range(400):
        for item in ("H", "J") if u % 2 == 0 else ("H",):
            n += 1
            rows.append(event(n, "2026-11-30", "view", f"u{u}", item_id=item))
    events_df = frame(spark, "events", rows)
    exact = SimilarityConfig(contexts="user", half_life_days=None, min_support=1, max_contexts_per_item=None)
    capped = SimilarityConfig(contexts="user", half_life_days=None, min_support=1, max_contexts_per_item=100)
    exact_pair = compute_similarity(events_df, exact, AS_OF, 1).pairs_df.collect()[0]
    first = compute_similarity(events_df, capped, AS_OF, 1).pairs_df.collect()
    again = compute_similarity(events_df, capped, AS_OF, 1).pairs_df.collect()
    assert exact_pair["support"] == 200
    assert first == again  # hash-based draws: same sample every run
    # HT estimate of the co-count stays near the truth (q_H = 1/4, q_J = 1/2: ~25 sampled joint rows).
    assert abs(first[0]["cooc"] - 200) / 200 < 0.5
