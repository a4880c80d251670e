"""The ground-truth loop (numpy, no Spark): its world answers as the simulator does, its policies
choose as the bandit's, and the policy comparison holds across seeded worlds.

The many-world figures are benchmarks/bench_policy_worlds.py's (docs/simulate_loop.md, "Many
worlds"); this module runs a cheap version whose assertions held on every world range tried.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta as beta_dist

from recsys_spark.loop.truth_loop import compare_policies, mean_interval, regret_table
from recsys_spark.loop.truth_policies import Candidates, choose, policy_scores
from recsys_spark.loop.truth_world import truth_world
from recsys_spark.settings.bandit import BanditConfig
from recsys_spark.settings.simulate import SimulatorConfig
from recsys_spark.simulate.behaviour import ET, generate_chunk
from recsys_spark.simulate.world import KIND_USER

pytestmark = pytest.mark.unit

# The hand case of tests/bandit/test_policies.py: promotion -> (type, lift, alpha, beta).
ARMS = {"pa": (0, 1.0, 4.0, 16.0), "pb": (0, 1.0, 0.6, 4.4), "pc": (1, 1.6, 1.0, 9.0),
        "pd": (2, 0.9, 1.0, 3.0)}
NAMES = list(ARMS)
HAND = BanditConfig(slots_per_user=2, one_per_promo_type=True, ucb_c=0.5, ucb_quantile=0.9, epsilon=0.2,
                    holdout_share=0.0)


def hand_candidates(n_users: int) -> Candidates:
    columns = list(zip(*ARMS.values(), strict=True))
    return Candidates(valid=np.ones((n_users, 4), dtype=bool),
                      lift=np.broadcast_to(np.array(columns[1]), (n_users, 4)),
                      alpha=np.array(columns[2]), beta=np.array(columns[3]),
                      promo_type=np.array(columns[0]), user_keys=np.arange(n_users, dtype=np.int64),
                      pseudo_count=39.0)


@pytest.mark.parametrize(("policy", "picks"), [("greedy", ["pd", "pa"]), ("ucb1", ["pd", "pb"]),
                                               ("bayes_ucb", ["pd", "pc"])])
def test_deterministic_policies_choose_as_the_hand_case(policy, picks):
    chosen = choose(hand_candidates(3), HAND, policy, seed=1, day=0)
    assert [[NAMES[i] for i in row] for row in chosen] == [picks] * 3


def test_randomized_policies_choose_with_their_exact_slot_probabilities():
    """Shares over 20,000 users (binomial sd <= 0.0036) against the exact probabilities."""
    n = 20_000
    cands = hand_candidates(n)
    random_p = {(p, s): (1 / 6 if ARMS[p][0] == 0 else 1 / 3) for p in NAMES for s in (1, 2)}
    greedy = {("pd", 1): 1.0, ("pa", 2): 1.0}
    # Thompson's exact slot probabilities by an independent numpy Monte Carlo (200,000 draws).
    draws = np.random.default_rng(5).beta([a for _, _, a, _ in ARMS.values()],
                                          [b for _, _, _, b in ARMS.values()], (200_000, 4))
    theta = draws * cands.lift[0]
    winner = np.stack([np.where(theta[:, 0] >= theta[:, 1], 0, 1), np.full(len(theta), 2),
                       np.full(len(theta), 3)], 1)
    thompson = np.take_along_axis(winner, np.argsort(-np.take_along_axis(theta, winner, 1), axis=1), 1)
    expected = {
        "random": random_p,
        "epsilon_greedy": {k: 0.8 * greedy.get(k, 0.0) + 0.2 * v for k, v in random_p.items()},
        "thompson": {(p, s): float(np.mean(thompson[:, s - 1] == i)) for i, p in enumerate(NAMES)
                     for s in (1, 2)},
    }
    for policy, probabilities in expected.items():
        chosen = choose(cands, HAND, policy, seed=7, day=3)
        for (p, s), prob in probabilities.items():
            share = np.mean(chosen[:, s - 1] == NAMES.index(p))
            assert share == pytest.approx(prob, abs=0.015), (policy, p, s)


def test_thompson_draws_are_beta_quantiles_of_keyed_uniforms():
    cands = hand_candidates(50_000)
    score, _ = policy_scores(cands, HAND, "thompson", seed=3, day=2)
    for j, (_, lift, a, b) in enumerate(ARMS.values()):
        draws = score[:, j] / lift
        # Kolmogorov-Smirnov distance to Beta(a, b) of 50,000 draws: 1.36 / sqrt(n) = 0.006 at 5%
        grid = np.linspace(0.01, 0.99, 99)
        ks = np.max(np.abs(np.sort(draws).searchsorted(grid) / len(draws) - beta_dist.cdf(grid, a, b)))
        assert ks < 0.01, (NAMES[j], ks)


def test_the_truth_world_answers_as_the_simulator():
    """Visitors, the built-in random promotions, redeems and their days: equal to the events the
    simulator's own generator writes for the same world and day."""
    config = SimulatorConfig.from_preset("tiny", n_promotions=6, promo_appeal_sd=1.0, launch_start_day=2)
    world = truth_world(config, seed=11)
    for day in (1, 3):
        rows = pd.DataFrame({"kind": KIND_USER, "key": world.user_keys, "day": day})
        events = generate_chunk(world.world, rows, plan=False)
        imps = events[events["etype"] == ET["promo_impression"]].sort_values(["user_key", "position"])
        users = np.flatnonzero(world.visitors(day))
        chosen, propensity, _ = world.logging_policy(users, day)
        k = chosen.shape[1]
        assert imps["user_key"].tolist() == np.repeat(users, k).tolist()
        assert imps["promo_idx"].tolist() == chosen.ravel().tolist()
        assert imps["propensity"].tolist() == pytest.approx(propensity.ravel().tolist())
        slots = np.tile(np.arange(1, k + 1), len(users))
        answer = world.respond(np.repeat(users, k), day, chosen.ravel(), slots,
                               window_hours=72)
        assert imps["event_ms"].tolist() == answer.impression_ms.tolist()
        redeems = events[events["etype"] == ET["promo_redeem"]]
        got = sorted(zip(redeems["user_key"], redeems["promo_idx"],
                         (redeems["event_ms"] - world.world.start_ms) // 86_400_000, strict=True))
        mine = sorted(zip(np.repeat(users, k)[answer.redeemed], chosen.ravel()[answer.redeemed],
                          answer.redeem_day[answer.redeemed], strict=True))
        assert got == mine and len(got) > 0


# The cheap cross-world comparison: seeds 1-20 (every one), 14 loop days, the bandit setting without
# accidental exploration (benchmarks/bench_policy_worlds.py's default; ~17 s). The assertions
# held on seeds 1-20, 11-30 and 1-30 alike (docs/simulate_loop.md, "Many worlds").
WORLD = SimulatorConfig.from_preset("tiny", n_promotions=10, promo_appeal_sd=1.0, launch_start_day=7,
                                    launch_span_days=2, promo_budget_scale=10)
BANDIT = BanditConfig(slots_per_user=1, user_weight=0.0, frequency_cap_impressions=1000, prior_strength=5.0,
                      holdout_share=0.0)
SEEDS = range(1, 21)


@pytest.fixture(scope="module")
def comparison() -> pd.DataFrame:
    return compare_policies(WORLD, SEEDS, BANDIT, ("thompson", "ucb1", "greedy", "random"),
                            warmup_days=7, loop_days=14)


def test_every_learning_policy_beats_random_in_every_world(comparison):
    wide = comparison.pivot(index="seed", columns="policy", values="cumulative_regret")
    assert list(wide.index) == list(SEEDS)
    for policy in ("thompson", "ucb1", "greedy"):
        assert (wide[policy] < wide["random"]).all(), wide
        _, _, upper = mean_interval(wide[policy] - wide["random"])
        assert upper < 0, policy


def test_thompson_beats_greedy_on_average_and_in_the_worst_world(comparison):
    """Greedy gets stuck in some worlds where a new promotion is the best (it never shows it);
    Thompson does not. Not asserted, because it does not hold: UCB1 below greedy (its bonus
    over-explores the known arms: mean regret 276 against 223), or Thompson below greedy in most
    worlds (a third of them: where the warm-up already showed the best, greedy's exploitation wins)."""
    wide = comparison.pivot(index="seed", columns="policy", values="cumulative_regret")
    assert wide["thompson"].mean() < 0.95 * wide["greedy"].mean(), wide.mean()
    assert wide["thompson"].max() < 0.75 * wide["greedy"].max(), wide.max()
    new = comparison.groupby("seed")["best_is_new"].first()
    assert new.sum() >= 5
    assert (wide["thompson"] < wide["greedy"])[new].mean() >= 0.5
    assert regret_table(comparison).set_index("policy")["worlds"].eq(len(SEEDS)).all()
