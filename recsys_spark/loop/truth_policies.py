"""The bandit's policies in numpy over (users x promotions) arrays: the rules of
bandit/policies.py (scores) and policies.select_slots (one promotion per type, N slots), for
running many worlds on the simulator's ground truth (truth_loop.py) without Spark.

Same formulas, other random numbers: Spark keys its uniforms with xxhash64, this module with
the simulator's SplitMix64 chain (simulate/rng.py) on (seed, purpose, user, day, promotion), so
Thompson, random and epsilon-greedy make the same kind of draws, not the same draws. Beta
quantiles come from the bandit's own tables (bandit/beta_quantiles.py). tests/loop/
test_truth_loop.py checks the deterministic policies on the hand case the Spark policies are
tested on (tests/bandit/test_policies.py) and the randomized ones against their exact slot
probabilities.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys_spark.bandit.beta_quantiles import beta_quantiles
from recsys_spark.settings.bandit import BanditConfig
from recsys_spark.simulate import rng

# Stream ids of this module's draws (the simulator's own streams are < 100).
S_THOMPSON, S_RANDOM_TYPE, S_RANDOM_ORDER, S_EXPLORE = 101, 102, 103, 104


@dataclass(frozen=True)
class Candidates:
    """One run date's candidates: users x promotions, promotions in promotion_id order."""

    valid: np.ndarray          # (users, promos) bool: a candidate (scored, active, not capped)
    lift: np.ndarray           # (users, promos)
    alpha: np.ndarray          # (promos,) the context's Beta posterior
    beta: np.ndarray           # (promos,)
    promo_type: np.ndarray     # (promos,) int
    user_keys: np.ndarray      # (users,) keys of the draws
    pseudo_count: float        # sum of alpha + beta over the context's arms (UCB1's n_context)

    @property
    def posterior_mean(self) -> np.ndarray:
        return self.alpha / (self.alpha + self.beta)


def _uniform(seed: int, stream: int, keys: np.ndarray, day: int, n_promos: int | None) -> np.ndarray:
    if n_promos is None:
        return rng.uniform(seed, stream, keys, np.int64(day))
    return rng.uniform(seed, stream, keys[:, None], np.int64(day), np.arange(n_promos)[None, :])


def policy_scores(cands: Candidates, config: BanditConfig, policy: str, seed: int, day: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(score, type_score) per (user, promotion), as bandit.policies.with_policy_scores.

    Raises:
        ValueError: unknown policy name.
    """
    n_users, n_promos = cands.valid.shape
    greedy = cands.lift * cands.posterior_mean[None, :]
    alpha = np.broadcast_to(cands.alpha, (n_users, n_promos)).ravel()
    beta = np.broadcast_to(cands.beta, (n_users, n_promos)).ravel()
    if policy == "greedy":
        return greedy, greedy
    if policy == "thompson":
        u = _uniform(seed, S_THOMPSON, cands.user_keys, day, n_promos).ravel()
        score = cands.lift * beta_quantiles(u, alpha, beta).reshape(n_users, n_promos)
        return score, score
    if policy == "bayes_ucb":
        q = np.full(alpha.size, config.ucb_quantile)
        score = cands.lift * beta_quantiles(q, alpha, beta).reshape(n_users, n_promos)
        return score, score
    if policy == "ucb1":
        n_arm = cands.alpha + cands.beta
        bonus = np.sqrt(2.0 * np.log(max(cands.pseudo_count, 2.0)) / n_arm)
        score = greedy + config.ucb_c * bonus[None, :]
        return score, score
    if policy in ("random", "epsilon_greedy"):
        rand_type = _uniform(seed, S_RANDOM_TYPE, cands.user_keys, day, n_promos)
        rand_order = _uniform(seed, S_RANDOM_ORDER, cands.user_keys, day, n_promos)
        if policy == "random":
            return rand_order, rand_type
        explore = (_uniform(seed, S_EXPLORE, cands.user_keys, day, None) < config.epsilon)[:, None]
        return np.where(explore, rand_order, greedy), np.where(explore, rand_type, greedy)
    raise ValueError(f"policy: unknown policy {policy!r}")


def select_slots(score: np.ndarray, type_score: np.ndarray, valid: np.ndarray, promo_type: np.ndarray,
                 slots: int, one_per_type: bool) -> np.ndarray:
    """The chosen promotion per (user, slot), -1 for an empty slot (as policies.select_slots:
    the best of each type by type_score, then the best ``slots`` by score; ties to the smaller
    promotion index, which is the smaller promotion_id)."""
    n_users, n_promos = score.shape
    score = np.where(valid, score, -np.inf)
    if one_per_type:
        type_score = np.where(valid, type_score, -np.inf)
        keep = np.zeros(score.shape, dtype=bool)
        rows = np.arange(n_users)
        for t in np.unique(promo_type):
            cols = np.flatnonzero(promo_type == t)
            winner = cols[np.argmax(type_score[:, cols], axis=1)]  # first of equal maxima
            has = valid[rows, winner]
            keep[rows[has], winner[has]] = True
        score = np.where(keep, score, -np.inf)
    index = np.broadcast_to(np.arange(n_promos), score.shape)
    order = np.lexsort((index, -score), axis=1)[:, :slots]
    return np.where(np.take_along_axis(score, order, axis=1) > -np.inf, order, -1)


def choose(cands: Candidates, config: BanditConfig, policy: str, seed: int, day: int) -> np.ndarray:
    """(users, slots_per_user) chosen promotion indexes (-1: empty) of ``policy`` on ``day``."""
    score, type_score = policy_scores(cands, config, policy, seed, day)
    return select_slots(score, type_score, cands.valid, cands.promo_type, config.slots_per_user,
                        config.one_per_promo_type)
