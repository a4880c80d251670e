"""Off-policy evaluation checked against the simulator's ground truth (numpy, no Spark).

A trial: one world (truth_world.py), W warm-up days of the simulator's uniform-random promotions
(the logging policy: each active promotion in a given slot with propensity 1 / active), the
bandit's arm posteriors from them (truth_loop.candidates) and a target policy for day W. The
logs of day W are the simulator's own impressions and redeems; the target is evaluated on them
with the project's estimators (bandit/ope.py: IPS, SNIPS, DM, DR, Poisson bootstrap 95% CI, here
one block per sample) and compared with its true value on the same samples:

    true value = mean over logged (user, slot) of sum_a pi_e(a | user, slot) x true P(redeem | user, a)

the quantity the estimators target given the logged users (as simulate/ope_truth.py for the
Spark OPE). q_hat is the response-model stand-in (truth_world.p_model: no hidden appeal), so DM
is biased where the appeal is large and DR must correct it.

Targets (``one_per_promo_type`` off, so the exact slot probabilities stay simple): greedy, ucb1
and bayes_ucb put their choice in a slot with certainty; epsilon_greedy mixes greedy with the
random ordering of the candidates, P = (1 - eps) [greedy's slot] + eps / n_candidates in the
first min(N, n_candidates) slots.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from recsys_spark.bandit.ope import bootstrap_estimates
from recsys_spark.loop.truth_loop import ImpressionLog, candidates
from recsys_spark.loop.truth_policies import choose
from recsys_spark.loop.truth_world import TruthWorld, truth_world
from recsys_spark.settings.bandit import BanditConfig
from recsys_spark.settings.simulate import SimulatorConfig

TARGETS = ("greedy", "ucb1", "bayes_ucb", "epsilon_greedy")


def target_probabilities(world: TruthWorld, config: BanditConfig, policy: str, day: int,
                         users: np.ndarray, seed: int, log: ImpressionLog) -> np.ndarray:
    """(len(users), slots, promos) P(the target puts promotion a in slot s) for ``users``.

    Raises:
        ValueError: a policy other than TARGETS, or one_per_promo_type on.
    """
    if policy not in TARGETS or config.one_per_promo_type:
        raise ValueError(f"policy: OPE targets are {TARGETS} without one_per_promo_type, got {policy!r}")
    cands = candidates(world, log, day, config)
    n_slots = config.slots_per_user
    chosen = choose(cands, config, "greedy" if policy == "epsilon_greedy" else policy, seed, day)[users]
    probs = np.zeros((len(users), n_slots, world.n_promos))
    rows, slots = np.nonzero(chosen >= 0)
    probs[rows, slots, chosen[rows, slots]] = 1.0
    if policy == "epsilon_greedy":
        valid = cands.valid[users]
        n_valid = valid.sum(axis=1)
        reach = np.arange(1, n_slots + 1)[None, :] <= np.minimum(n_valid, n_slots)[:, None]
        uniform = valid / np.maximum(n_valid, 1)[:, None]
        probs = (1 - config.epsilon) * probs + config.epsilon * reach[:, :, None] * uniform[:, None, :]
    return probs


def ope_trial(world: TruthWorld, config: BanditConfig, policies: Sequence[str], warmup_days: int,
              seed: int, replicates: int = 200) -> pd.DataFrame:
    """Every target's estimates on day ``warmup_days`` of ``world``, with the true values.

    Returns:
        One row per (policy, estimator): policy, estimator, estimate, ci_lower, ci_upper, n,
        true_value, covered.
    """
    log = ImpressionLog()
    window = config.attribution_window_hours
    for day in range(warmup_days + 1):
        users = np.flatnonzero(world.visitors(day))
        shown, pscore, _ = world.logging_policy(users, day)
        k = shown.shape[1]
        slots = np.tile(np.arange(1, k + 1), len(users))
        redeemed = log.show(world, np.repeat(users, k), shown.ravel(), slots, day, window)
    # The last day shown is the evaluation day: its samples are (user, slot) for slots both
    # policies fill (the target's slots beyond the logger's have no logs).
    n_slots = min(k, config.slots_per_user)
    action = shown[:, :n_slots]
    reward = redeemed.reshape(len(users), k)[:, :n_slots].astype(float)
    p_log = pscore[:, :n_slots]
    rows = []
    for policy in policies:
        # The target decides from the log before the evaluation day (the posteriors of run date W - 1).
        before = _log_until(log, warmup_days - 1)
        probs = target_probabilities(world, config, policy, warmup_days, users, seed, before)[:, :n_slots]
        pi_e = np.take_along_axis(probs, action[:, :, None], axis=2)[:, :, 0]
        q_hat = world.p_model[users[:, None], action]
        dm = probs @ world.p_model[users][:, :, None]
        truth = float((probs @ world.p_redeem[users][:, :, None]).mean())
        w = pi_e / p_log
        stats = np.stack([np.ones(w.size), (w * reward).ravel(), w.ravel(), dm.ravel(),
                          (dm[:, :, 0] + w * (reward - q_hat)).ravel()], axis=1)
        for est in bootstrap_estimates(stats, seed, replicates):
            rows.append({"policy": policy, "estimator": est.estimator, "estimate": est.estimate,
                         "ci_lower": est.ci_lower, "ci_upper": est.ci_upper, "n": est.n, "true_value": truth,
                         "covered": est.ci_lower <= truth <= est.ci_upper})
    return pd.DataFrame(rows)


def _log_until(log: ImpressionLog, last_day: int) -> ImpressionLog:
    """The impressions shown up to ``last_day``."""
    out = ImpressionLog()
    for i, days in enumerate(log.day):
        if days.size and days[0] <= last_day:
            for name in ("user", "promo", "day", "ms", "credited", "redeem_day"):
                getattr(out, name).append(getattr(log, name)[i])
    return out


def ope_trials(sim_config: SimulatorConfig, seeds: Sequence[int], config: BanditConfig,
               policies: Sequence[str] = TARGETS, warmup_days: int = 4) -> pd.DataFrame:
    """:func:`ope_trial` on the world of every seed (one trial per world), with a seed column."""
    return pd.concat([ope_trial(truth_world(sim_config, seed), config, policies, warmup_days, seed)
                      .assign(seed=seed) for seed in seeds], ignore_index=True)


def coverage_table(trials: pd.DataFrame) -> pd.DataFrame:
    """Per (policy, estimator): trials, mean estimate, mean true value, mean absolute error,
    mean CI width and the share of trials whose CI covers the true value."""
    t = trials.assign(abs_error=(trials["estimate"] - trials["true_value"]).abs(),
                      width=trials["ci_upper"] - trials["ci_lower"])
    return (t.groupby(["policy", "estimator"], sort=False)
            .agg(trials=("seed", "nunique"), mean_estimate=("estimate", "mean"),
                 mean_true=("true_value", "mean"), mean_abs_error=("abs_error", "mean"),
                 mean_ci_width=("width", "mean"), coverage=("covered", "mean"))
            .reset_index())
