"""Evaluation against the simulator's ground truth, outside the production stages.

`recsys run` calls :func:`write_response_truth` after a pipeline on simulated data (and the
tests and the closed loop may call it); no pipeline stage imports the simulator. Real data has
no ground-truth folder, and then nothing is written.

Response scores: the simulator writes P(click | shown) and P(redeem | shown) per (user,
promotion) under ``<landing>/_ground_truth/response`` (simulate/truth.py). There a redeem
always follows a click, so the label "clicked or redeemed" has true probability p_click, and
"redeemed" alone p_redeem. The simulator has no position effect, so scoring at a fixed position
compares like with like.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys_spark.config import AppConfig
from recsys_spark.domain.models import RESPONSE_MODEL
from recsys_spark.runs import RunContext, StageReport
from recsys_spark.simulate.truth import has_truth, read_truth
from recsys_spark.stage_io import Inputs, write_metrics
from recsys_spark.tables import TableStore

# model_metrics rows of this module live in their own (run_date, stage) partition.
TRUTH_STAGE = "simulator_truth"
SPLIT = "scoring"


def true_probability_column(label_events: Sequence[str]) -> str:
    """The ground-truth column whose probability the label estimates."""
    return "p_click" if "promo_click" in label_events else "p_redeem"


def response_truth_rows(spark: SparkSession, landing_root: str | None, scores_df: DataFrame,
                        label_events: Sequence[str], model: str = RESPONSE_MODEL
                        ) -> list[dict[str, Any]]:
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


def write_response_truth(spark: SparkSession, store: TableStore, config: AppConfig,
                         run_date: dt.date) -> int:
    """Compare the run date's `promotion_scores` with the true probabilities and replace the
    (run_date, simulator_truth) slice of `model_metrics`. Returns the rows written (0: no
    ground truth or no scores)."""
    if not has_truth(config.landing.root, "response"):
        return 0
    ctx = RunContext(config=config, run_date=run_date, stage=TRUTH_STAGE)
    scores_df = Inputs(store, ctx, StageReport()).latest_run("promotion_scores")
    if scores_df is None:
        return 0
    rows = response_truth_rows(spark, config.landing.root, scores_df, config.response.label_events)
    if rows:
        write_metrics(store, ctx, None, rows)
    return len(rows)


@dataclasses.dataclass(frozen=True)
class SimulatedPolicyTruth:
    """The true value of evaluated policies on simulated logs (for `recsys ope`)."""

    truth_df: DataFrame
    reward_event: str

    def value(self, samples_df: DataFrame, dist_df: DataFrame, logged: bool) -> float | None:
        from recsys_spark.simulate.ope_truth import true_policy_value

        return true_policy_value(samples_df, dist_df, self.truth_df, self.reward_event, logged)


def policy_truth(spark: SparkSession, source: str, path: str | None, landing_root: str | None,
                 reward_event: str) -> SimulatedPolicyTruth | None:
    """The true policy values of these logs when they were simulated (see ope_truth.py for
    where the ground truth is looked for), else None."""
    from recsys_spark.simulate.ope_truth import find_truth_root, read_response_truth

    root = find_truth_root(source, path, landing_root)
    if root is None:
        return None
    return SimulatedPolicyTruth(read_response_truth(spark, root), reward_event)
