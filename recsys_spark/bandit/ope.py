"""Off-policy estimators of a policy's value from logged impressions with propensities.

Input: one row per logged impression (sample) with
  sample_id, reward (0/1), pscore (logging propensity of the logged action in its slot),
  pi_e (evaluated policy's probability of that action in that slot),
  q_hat (reward model for the logged action and slot),
  dm_value (sum over actions a of pi_e(a | x, slot) * q_hat(x, a, slot)).
With w = pi_e / pscore:
  IPS   = mean(w r)
  SNIPS = sum(w r) / sum(w)
  DM    = mean(dm_value)
  DR    = mean(dm_value + w (r - q_hat))

Bootstrap CI (95%, percentile): a Poisson(1) bootstrap over hashed blocks. In Spark each sample
falls into block ``xxhash64(seed, sample_id) mod G``; only the per-block sums (n, sum w r,
sum w, sum dm, sum dr) come back to the driver (G rows, G <= bootstrap_blocks). There a seeded
numpy Generator draws a (B x G) matrix of Poisson(1) weights and every replicate is one matrix
product — vectorized. Because blocks are a random partition of i.i.d. samples, re-weighting
blocks estimates the same sampling variance as re-weighting samples (with n < G blocks it is
exactly the per-sample Poisson bootstrap).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

ESTIMATORS = ("ips", "snips", "dm", "dr")


@dataclass(frozen=True)
class Estimate:
    """One estimator's result."""

    estimator: str
    estimate: float
    ci_lower: float
    ci_upper: float
    n: int
    n_bootstrap: int
    # The policy's true value on the same samples, when known (simulated logs; ope_truth.py).
    true_value: float | None = None


def block_sums(samples_df: DataFrame, seed: int, blocks: int) -> DataFrame:
    """Per hashed block: n, s_wr, s_w, s_dm, s_dr (the sufficient statistics of all estimators)."""
    w = F.col("pi_e") / F.col("pscore")
    return (samples_df
            .withColumn("_w", w)
            .withColumn("_block", F.pmod(F.xxhash64(F.lit(int(seed)), F.col("sample_id")), F.lit(blocks)))
            .groupBy("_block").agg(
                F.count(F.lit(1)).alias("n"),
                F.sum(F.col("_w") * F.col("reward")).alias("s_wr"),
                F.sum("_w").alias("s_w"),
                F.sum("dm_value").alias("s_dm"),
                F.sum(F.col("dm_value") + F.col("_w") * (F.col("reward") - F.col("q_hat"))).alias("s_dr")))


def _estimates(n: np.ndarray, s_wr: np.ndarray, s_w: np.ndarray, s_dm: np.ndarray,
               s_dr: np.ndarray) -> dict[str, np.ndarray]:
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"ips": s_wr / n, "snips": s_wr / s_w, "dm": s_dm / n, "dr": s_dr / n}


def estimate_policy_value(samples_df: DataFrame, seed: int, replicates: int = 200,
                          blocks: int = 1000) -> list[Estimate]:
    """IPS, SNIPS, DM and DR with bootstrap 95% CIs.

    Returns:
        One Estimate per estimator (in ESTIMATORS order); NaN estimates when there are no samples.

    Raises:
        ValueError: a sample has a non-positive pscore (IPS weights would be undefined).
    """
    bad = samples_df.filter(~(F.col("pscore") > 0)).limit(1).count()
    if bad:
        raise ValueError("pscore: every logged impression needs a propensity > 0")
    rows = block_sums(samples_df, seed, blocks).orderBy("_block").collect()
    stats = np.array([[r["n"], r["s_wr"], r["s_w"], r["s_dm"], r["s_dr"]] for r in rows],
                     dtype="float64").reshape(-1, 5)
    return bootstrap_estimates(stats, seed, replicates)


def bootstrap_estimates(stats: np.ndarray, seed: int, replicates: int) -> list[Estimate]:
    """Point estimates and percentile 95% CIs from per-block sums.

    Args:
        stats: (blocks, 5) rows of n, s_wr, s_w, s_dm, s_dr (:func:`block_sums`; one row per
            sample is the plain per-sample Poisson bootstrap).

    Returns:
        One Estimate per estimator (in ESTIMATORS order).
    """
    totals = stats.sum(axis=0)
    point = _estimates(*[np.array([v]) for v in totals])
    rng = np.random.default_rng(seed)
    weights = rng.poisson(1.0, size=(replicates, stats.shape[0])).astype("float64")
    boot = _estimates(*(weights @ stats).T)
    out = []
    for name in ESTIMATORS:
        values = boot[name][np.isfinite(boot[name])]
        lo, hi = (np.quantile(values, [0.025, 0.975]) if values.size else (np.nan, np.nan))
        out.append(Estimate(name, float(point[name][0]), float(lo), float(hi), int(totals[0]),
                            replicates))
    return out
