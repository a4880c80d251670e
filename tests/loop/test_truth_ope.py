"""Off-policy estimates against the simulator's ground truth over seeded worlds (numpy, ~8 s):
the estimators of bandit/ope.py on the simulator's own uniform-random logs, each target's true
value on the same samples, and the stated coverage of the bootstrap 95% intervals.

60 worlds (seeds 1-60, every one), 4 warm-up days, day 4 evaluated (~150 users x 2 slots).
Observed coverage over these 60 worlds: IPS 0.90-0.93, SNIPS 0.90-0.93, DR 0.95-0.97 per target;
over 200 worlds (docs/simulate_loop.md, "OPE against the truth"): IPS 0.935-0.94, SNIPS
0.94-0.95, DR 0.95-0.96. A 95% interval that covers in >= 85% of 60 trials passes (the binomial
sd at 0.95 is 0.028). DM, whose reward model cannot see the promotions' hidden appeal, is
biased and its narrow interval covers in 15-18%: asserted too, so the check can tell.
"""
from __future__ import annotations

import numpy as np
import pytest

from recsys_spark.loop.truth_loop import ImpressionLog, candidates
from recsys_spark.loop.truth_ope import TARGETS, coverage_table, ope_trials, target_probabilities
from recsys_spark.loop.truth_world import truth_world
from recsys_spark.settings.bandit import BanditConfig
from recsys_spark.settings.simulate import SimulatorConfig

pytestmark = pytest.mark.unit

WORLD = SimulatorConfig.from_preset("tiny", n_promotions=10, promo_appeal_sd=1.0, promo_budget_scale=10)
BANDIT = BanditConfig(slots_per_user=2, one_per_promo_type=False, holdout_share=0.0, epsilon=0.2)


@pytest.fixture(scope="module")
def table():
    return coverage_table(ope_trials(WORLD, range(1, 61), BANDIT)).set_index(["policy", "estimator"])


@pytest.mark.parametrize("policy", TARGETS)
def test_target_probabilities_sum_to_one_per_slot(policy):
    world = truth_world(WORLD, seed=3)
    users = np.flatnonzero(world.visitors(0))
    probs = target_probabilities(world, BANDIT, policy, 0, users, seed=3, log=ImpressionLog())
    # a slot the user's candidates can fill has probability 1 in all, the others 0
    n_candidates = candidates(world, ImpressionLog(), 0, BANDIT).valid[users].sum(axis=1)
    filled = np.arange(1, 3)[None, :] <= np.minimum(n_candidates, 2)[:, None]
    assert probs.shape == (len(users), 2, world.n_promos) and filled.any() and not filled.all()
    np.testing.assert_allclose(probs.sum(axis=2), filled.astype(float), atol=1e-12)
    # no promotion twice: its probabilities over the slots sum to at most 1
    assert probs.sum(axis=1).max() <= 1 + 1e-12


@pytest.mark.parametrize("policy", TARGETS)
def test_ips_snips_dr_cover_the_true_value(table, policy):
    for estimator in ("ips", "snips", "dr"):
        row = table.loc[(policy, estimator)]
        assert row["trials"] == 60
        assert row["coverage"] >= 0.85, (policy, estimator, row.to_dict())
        assert abs(row["mean_estimate"] - row["mean_true"]) <= 0.015, (policy, estimator, row.to_dict())
    dm = table.loc[(policy, "dm")]
    assert dm["coverage"] <= 0.3 and dm["mean_true"] - dm["mean_estimate"] >= 0.05, dm.to_dict()
