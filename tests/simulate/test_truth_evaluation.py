"""Scores against the simulator's true response probabilities, on a hand-computed case."""
from __future__ import annotations

import pytest

from recsys_spark.simulate.evaluation import response_truth_rows

pytestmark = pytest.mark.unit

SCORES = [("u1", "p1", 0.1), ("u1", "p2", 0.2), ("u2", "p1", 0.3), ("u2", "p2", 0.4),
          ("u3", "p1", 0.9)]                     # u3 has no truth row: left out
TRUTH = [("u1", "p1", 0.05, 0.2), ("u1", "p2", 0.05, 0.1), ("u2", "p1", 0.05, 0.4),
         ("u2", "p2", 0.05, 0.3), ("u9", "p1", 0.9, 0.9)]   # u9 was not scored: ignored


def _write_truth(spark, landing):
    spark.createDataFrame(TRUTH, "user_id string, promotion_id string, p_redeem double, "
                                 "p_click double").write.parquet(str(landing / "_ground_truth" / "response"))


def test_correlation_and_means_against_the_true_click_probability(spark, tmp_path):
    _write_truth(spark, tmp_path)
    scores = spark.createDataFrame(SCORES, "user_id string, promotion_id string, p_response double")
    rows = response_truth_rows(spark, str(tmp_path), scores, ("promo_click", "promo_redeem"), "m")
    # Deviations from the means (0.25 both): scores -.15 -.05 .05 .15, truth -.05 -.15 .15 .05:
    # covariance sum 4 * .0075 = .03, both variance sums .05, so r = .03 / .05 = 0.6.
    assert {r["metric"]: r["value"] for r in rows} == pytest.approx(
        {"true_p_correlation": 0.6, "mean_p_response": 0.25, "mean_true_p": 0.25})
    assert {(r["model"], r["split"]) for r in rows} == {("m", "scoring")}
    assert all(r["params"] == {"truth": "p_click", "pairs": 4} for r in rows)


def test_redeem_label_uses_p_redeem_and_real_data_writes_nothing(spark, tmp_path):
    _write_truth(spark, tmp_path / "sim")
    scores = spark.createDataFrame(SCORES, "user_id string, promotion_id string, p_response double")
    rows = response_truth_rows(spark, str(tmp_path / "sim"), scores, ("promo_redeem",), "m")
    by_metric = {r["metric"]: r for r in rows}
    assert by_metric["mean_true_p"]["value"] == pytest.approx(0.05)
    assert by_metric["true_p_correlation"]["params"] == {"truth": "p_redeem", "pairs": 4}
    # Constant truth: the correlation is undefined and stays null rather than a made-up number.
    assert by_metric["true_p_correlation"]["value"] is None
    assert response_truth_rows(spark, str(tmp_path / "real"), scores, ("promo_redeem",), "m") == []
    assert response_truth_rows(spark, None, scores, ("promo_redeem",), "m") == []
