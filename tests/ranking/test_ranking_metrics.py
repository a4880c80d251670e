"""NDCG@k, hit rate, precision and recall: hand-computed cases and a numpy reference."""
from __future__ import annotations

import math

import numpy as np
import pytest

from recsys_spark.ranking.metrics import per_user_metrics, ranking_metrics, ranking_metrics_by

pytestmark = pytest.mark.unit

RANKED = "user_id string, rank int, category string"
TRUTH = "user_id string, category string"


def numpy_metrics(ranked: dict[str, list[str]], truth: dict[str, set[str]], k: int) -> dict[str, float]:
    """The textbook definitions, one user at a time."""
    ndcg, hit, precision, recall = [], [], [], []
    for user, relevant in truth.items():
        top = ranked.get(user, [])[:k]
        gains = np.array([1.0 if key in relevant else 0.0 for key in top])
        dcg = float(np.sum(gains / np.log2(np.arange(2, len(top) + 2)))) if len(top) else 0.0
        ideal = float(np.sum(1.0 / np.log2(np.arange(2, min(len(relevant), k) + 2))))
        ndcg.append(dcg / ideal)
        hit.append(float(gains.sum() > 0))
        precision.append(gains.sum() / k)
        recall.append(gains.sum() / len(relevant))
    return {f"ndcg@{k}": float(np.mean(ndcg)), f"hit_rate@{k}": float(np.mean(hit)),
            f"precision@{k}": float(np.mean(precision)), f"recall@{k}": float(np.mean(recall)),
            "eval_users": float(len(truth))}


def frames(spark, ranked: dict[str, list[str]], truth: dict[str, set[str]]):
    ranked_df = spark.createDataFrame([(u, r + 1, key) for u, keys in ranked.items()
                                       for r, key in enumerate(keys)], RANKED)
    truth_df = spark.createDataFrame([(u, key) for u, keys in truth.items() for key in sorted(keys)],
                                     TRUTH)
    return ranked_df, truth_df


def test_hand_computed_case(spark):
    # u1: hits at ranks 1 and 3 of 2 relevant -> (1 + 1/2) / (1 + 1/log2(3))
    # u2: one relevant key at rank 2 -> 1/log2(3); u3: no list -> 0; u4 (no truth) is ignored.
    ranked = {"u1": ["a", "b", "c"], "u2": ["a", "b"], "u4": ["a"]}
    truth = {"u1": {"a", "c"}, "u2": {"b"}, "u3": {"a"}}
    ranked_df, truth_df = frames(spark, ranked, truth)
    got = ranking_metrics(ranked_df, truth_df, 3, "category")
    u1 = (1 + 1 / 2) / (1 + 1 / math.log2(3))
    u2 = 1 / math.log2(3)
    assert got == pytest.approx({"ndcg@3": (u1 + u2) / 3, "hit_rate@3": 2 / 3,
                                 "precision@3": (2 / 3 + 1 / 3) / 3, "recall@3": (1 + 1) / 3,
                                 "eval_users": 3.0})


def test_grouped_metrics_judge_every_group_on_every_user(spark):
    # Group A: the lists of the hand-computed case; group B ranks only u3 (["a"]: a hit at rank 1)
    # and is judged on u1 and u2 too, who score 0 under it.
    rows = [("A", "u1", 1, "a"), ("A", "u1", 2, "b"), ("A", "u1", 3, "c"), ("A", "u2", 1, "a"),
            ("A", "u2", 2, "b"), ("A", "u4", 1, "a"), ("B", "u3", 1, "a")]
    ranked_df = spark.createDataFrame(rows, "candidate string, user_id string, rank int, category string")
    _, truth_df = frames(spark, {}, {"u1": {"a", "c"}, "u2": {"b"}, "u3": {"a"}})
    got = ranking_metrics_by(ranked_df, truth_df, 3, "category", "candidate")
    u1 = (1 + 1 / 2) / (1 + 1 / math.log2(3))
    u2 = 1 / math.log2(3)
    assert got == {
        "A": pytest.approx({"ndcg@3": (u1 + u2) / 3, "hit_rate@3": 2 / 3,
                            "precision@3": (2 / 3 + 1 / 3) / 3, "recall@3": 2 / 3, "eval_users": 3.0}),
        "B": pytest.approx({"ndcg@3": 1 / 3, "hit_rate@3": 1 / 3, "precision@3": 1 / 9,
                            "recall@3": 1 / 3, "eval_users": 3.0})}


def test_per_user_rows(spark):
    ranked_df, truth_df = frames(spark, {"u1": ["x", "a"]}, {"u1": {"a", "b", "c"}, "u2": {"a"}})
    got = {r["user_id"]: (r["relevant"], r["hits"], r["ndcg"])
           for r in per_user_metrics(ranked_df, truth_df, 2, "category").collect()}
    ideal = 1 + 1 / math.log2(3)   # 3 relevant, k = 2: the ideal list has 2 hits
    assert got == {"u1": (3, 1, pytest.approx((1 / math.log2(3)) / ideal)), "u2": (1, 0, 0.0)}


def test_ranks_beyond_k_do_not_count(spark):
    ranked_df, truth_df = frames(spark, {"u1": ["x", "y", "a"]}, {"u1": {"a"}})
    assert ranking_metrics(ranked_df, truth_df, 2, "category")["ndcg@2"] == 0.0
    assert ranking_metrics(ranked_df, truth_df, 3, "category")["ndcg@3"] == pytest.approx(0.5)


def test_matches_numpy_on_random_rankings(spark):
    rng = np.random.default_rng(7)
    keys = [f"c{i}" for i in range(12)]
    ranked = {f"u{u}": list(rng.permutation(keys)[: rng.integers(0, 9)]) for u in range(40)}
    truth = {f"u{u}": set(rng.choice(keys, size=rng.integers(1, 5), replace=False))
             for u in range(0, 50, 1) if u % 7}
    ranked_df, truth_df = frames(spark, ranked, truth)
    for k in (1, 5, 10):
        assert ranking_metrics(ranked_df, truth_df, k, "category") == pytest.approx(
            numpy_metrics(ranked, truth, k))
