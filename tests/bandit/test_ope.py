"""OPE estimators against a numpy reference; uniform on its own logs; the OBD excerpt."""
from __future__ import annotations

import numpy as np
import pytest

from recsys_spark.bandit.ope import estimate_policy_value
from recsys_spark.bandit.ope_data import evaluation_samples, read_obd
from recsys_spark.settings.bandit import BanditConfig

pytestmark = pytest.mark.unit

OBD_FIXTURE = "tests/fixtures/obd/random/men/men.csv"


def test_ips_snips_dm_dr_match_numpy_reference(spark):
    rng = np.random.default_rng(7)
    n = 40
    reward = rng.integers(0, 2, n).astype(float)
    pscore = rng.uniform(0.05, 0.9, n)
    pi_e = rng.uniform(0.0, 1.0, n)
    q_hat = rng.uniform(0.0, 1.0, n)
    dm_value = rng.uniform(0.0, 1.0, n)
    rows = [(f"s{i}", float(reward[i]), float(pscore[i]), float(pi_e[i]), float(q_hat[i]),
             float(dm_value[i])) for i in range(n)]
    df = spark.createDataFrame(rows, "sample_id string, reward double, pscore double, pi_e double, "
                                     "q_hat double, dm_value double")
    got = {e.estimator: e for e in estimate_policy_value(df, seed=3, replicates=50, blocks=16)}
    w = pi_e / pscore
    assert got["ips"].estimate == pytest.approx(np.mean(w * reward), rel=1e-12)
    assert got["snips"].estimate == pytest.approx(np.sum(w * reward) / np.sum(w), rel=1e-12)
    assert got["dm"].estimate == pytest.approx(np.mean(dm_value), rel=1e-12)
    assert got["dr"].estimate == pytest.approx(np.mean(dm_value + w * (reward - q_hat)), rel=1e-12)
    for e in got.values():
        assert e.n == n and e.n_bootstrap == 50
        assert e.ci_lower <= e.estimate <= e.ci_upper
    again = {e.estimator: e for e in estimate_policy_value(df.repartition(3), seed=3, replicates=50,
                                                            blocks=16)}
    # Same seed, other partitioning -> the same intervals (block sums are order-free up to rounding).
    flat = lambda res: [x for k in sorted(res) for x in (res[k].ci_lower, res[k].ci_upper)]  # noqa: E731
    assert flat(again) == pytest.approx(flat(got), rel=1e-12)


def test_uniform_policy_on_uniform_logs_equals_mean_reward_on_obd_excerpt(spark):
    # The clean helper's trimmed Open Bandit Dataset excerpt (random policy, campaign men: 34 arms
    # but only those seen in the excerpt count as arms here -> pscore is rescaled to match).
    logged_df = read_obd(spark, OBD_FIXTURE)
    n_arms = logged_df.select("action").distinct().count()
    logged_df = logged_df.withColumn("pscore", logged_df["pscore"] * 0 + 1.0 / n_arms).cache()
    config = BanditConfig(bootstrap_replicates=50, bootstrap_blocks=10)
    samples_df = evaluation_samples("uniform", logged_df, config, seed=1)
    rewards = [r["reward"] for r in samples_df.select("reward").collect()]
    got = {e.estimator: e.estimate for e in estimate_policy_value(samples_df, 1, 50, 10)}
    assert len(rewards) == 25 - int(25 * 0.5)
    assert got["ips"] == pytest.approx(float(np.mean(rewards)), abs=1e-12)
    assert got["snips"] == pytest.approx(float(np.mean(rewards)), abs=1e-12)
