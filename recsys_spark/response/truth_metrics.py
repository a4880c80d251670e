"""On simulated data only: how closely the scores follow the TRUE response probabilities.

The simulator writes P(click | shown) and P(redeem | shown) per (user, promotion) under
``<landing>/_ground_truth/response`` (simulate/truth.py). There a redeem always follows a click,
so the label "clicked or redeemed" has true probability p_click, and "redeemed" alone p_redeem.
The simulator has no position effect, so scoring at a fixed position compares like with like.

Evaluation only: nothing here feeds the model or the scores. Real data has no ground-truth
folder, and then no row is written.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys_spark.simulate.truth import has_truth, read_truth

SPLIT = "scoring"


def true_probability_column(label_events: Sequence[str]) -> str:
    """The ground-truth column whose probability the label estimates."""
    return "p_click" if "promo_click" in label_events else "p_redeem"


def truth_metric_rows(spark: SparkSession, landing_root: str | None, scores_df: DataFrame,
                      label_events: Sequence[str], model: str) -> list[dict[str, Any]]:
    """`model_metrics` rows comparing ``scores_df`` (user_id, promotion_id, p_response) with truth.

    Returns no rows when ``landing_root`` holds no simulated world or no scored pair has a truth
    row. Otherwise: Pearson correlation of p_response with the true probability over the scored
    pairs that have one, and both means (the gap is the scores' bias), split ``scoring``.
    """
    if not landing_root or not has_truth(landing_root, "response"):
        return []
    column = true_probability_column(label_events)
    truth_df = read_truth(spark, landing_root, "response").select(
        "user_id", "promotion_id", F.col(column).cast("double").alias("p_true"))
    # Population (co)variances, not F.corr: under ANSI mode corr raises DIVIDE_BY_ZERO when a
    # side is constant; here that case gives a null correlation instead.
    row = (scores_df.join(truth_df, on=["user_id", "promotion_id"], how="inner")
           .agg(F.count(F.lit(1)).alias("n"), F.covar_pop("p_response", "p_true").alias("cov"),
                F.var_pop("p_response").alias("var_p"), F.var_pop("p_true").alias("var_true"),
                F.avg("p_response").alias("mean_p"), F.avg("p_true").alias("mean_true")).first())
    if row is None or not row["n"]:
        return []
    spread = math.sqrt(row["var_p"] * row["var_true"])
    params = {"truth": column, "pairs": row["n"]}
    values = {"true_p_correlation": row["cov"] / spread if spread > 0 else None,
              "mean_p_response": row["mean_p"], "mean_true_p": row["mean_true"]}
    return [{"model": model, "metric": name, "value": value, "split": SPLIT, "params": params}
            for name, value in values.items()]
