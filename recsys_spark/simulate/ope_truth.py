"""The TRUE value of an evaluated policy on simulated logs (`ope_estimates.true_value`).

The simulator writes P(. | shown) per (user, promotion) to ``<landing>/_ground_truth/response``
(p_redeem, p_click; simulate/truth.py). With p(x, a) the true probability of the event OPE
uses as reward (``bandit.reward_event``: promo_redeem -> p_redeem, promo_click -> p_click) and
the same evaluation samples i = 1..n as the estimators (context x_i = user, slot s_i = logged
position, logged action a_i):

* a ranking policy (uniform, thompson, ucb, greedy), with pi(a | s) its slot probabilities (the
  same pi_e the estimators use):  V = (1/n) * sum_i sum_a pi(a | s_i) * p(x_i, a);
  so the uniform policy's value is the mean over samples of the mean true p over the arms.
* logged (the logging policy itself, whose full per-context distribution is not in the logs):
  V = (1/n) * sum_i p(x_i, a_i), the true expected reward of the actions it took.

The simulator has no position effect, so p does not depend on the slot. V is the expected reward
per impression under the simulator's response model; the logged reward can sit slightly below
it, because a reward only counts inside the attribution window (late redeems and redeems after
the last simulated day are lost).

V is None when a (sample, arm with pi > 0) pair has no truth row (an unknown user or arm):
a partial average would not be the value on the evaluated samples.
"""
from __future__ import annotations

import logging
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys_spark.simulate.truth import has_truth, read_truth

log = logging.getLogger(__name__)

TRUE_COLUMN = {"promo_redeem": "p_redeem", "promo_click": "p_click"}


def has_response_truth(root: str) -> bool:
    """Whether ``root`` is a landing folder with the simulator's true response probabilities."""
    return has_truth(root, "response")


def find_truth_root(source: str, path: str | None, landing_root: str | None) -> str | None:
    """The landing root holding the ground truth of these logs, or None (no truth known).

    jsonl: the input folder or the nearest parent with ``_ground_truth/response`` (local paths;
    a URI is tried as given). events: the configured landing root. obd: never (real logs).
    """
    if source == "jsonl" and path:
        if "://" in path:
            candidates = [path]
        else:
            start = Path(path).resolve()
            candidates = [str(p) for p in (start, *start.parents)]
        return next((c for c in candidates if has_response_truth(c)), None)
    if source == "events" and landing_root and has_response_truth(landing_root):
        return landing_root
    return None


def true_policy_value(samples_df: DataFrame, dist_df: DataFrame, truth_df: DataFrame,
                      reward_event: str, logged: bool) -> float | None:
    """V of the module docstring.

    Args:
        samples_df: the evaluation samples (context, action, position; one row per sample).
        dist_df: position, action, prob of the evaluated policy (ignored when ``logged``).
        truth_df: user_id, promotion_id, p_redeem, p_click.
        reward_event: promo_redeem or promo_click (which true probability is the reward's).
        logged: the policy is the logging policy itself.

    Returns:
        V, or None when there are no samples or some needed (user, arm) has no truth.

    Raises:
        ValueError: ``reward_event`` has no true probability column.
    """
    if reward_event not in TRUE_COLUMN:
        raise ValueError(f"reward_event: no true probability for {reward_event!r}")
    p_df = truth_df.select(F.col("user_id").alias("context"), F.col("promotion_id").alias("action"),
                           F.col(TRUE_COLUMN[reward_event]).cast("double").alias("_p"))
    if logged:
        weighted_df = samples_df.groupBy("context", "action").agg(F.count(F.lit(1)).alias("_w"))
    else:
        # Samples sharing (user, slot) share the sum over arms: group first, then one row per
        # (user, slot, arm with pi > 0) — linear in distinct users x arms.
        weighted_df = (samples_df.groupBy("context", "position").agg(F.count(F.lit(1)).alias("_c"))
                       .join(F.broadcast(dist_df.filter(F.col("prob") > 0)), on="position", how="inner")
                       .select("context", "action", (F.col("_c") * F.col("prob")).alias("_w")))
    row = (weighted_df.join(p_df, on=["context", "action"], how="left")
           .agg(F.sum(F.col("_w") * F.col("_p")).alias("s"),
                F.count_if(F.col("_p").isNull()).alias("missing")).first())
    n = samples_df.count()
    if n == 0 or row is None:
        return None
    if row["missing"]:
        log.warning("ope: %d (user, arm) pairs of the evaluated samples have no true response; "
                    "true_value left null", row["missing"])
        return None
    return float(row["s"] or 0.0) / n


def read_response_truth(spark: SparkSession, root: str) -> DataFrame:
    """The simulator's true response probabilities under ``root``."""
    return read_truth(spark, root, "response")
