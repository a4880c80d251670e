"""The true effect of the promotions on a simulated world, and seeded A/B trials drawn from it
in numpy, for checking the readout's confidence intervals (tests/readout/test_coverage.py).

The trial is the simulator's own model, without Spark: a user's logged-in visit on a day has
probability q = m / (1 + m), m = activity x sessions_per_user_day (P(at least one session) of
the geometric session count in simulate/behaviour.py), from their signup day on; a treated user
who visits sees their planned promotions (``promo_slots`` of them, here the ones with the
highest true P(redeem) among those active on the first day) and redeems each with its true
P(redeem | shown) (world.response_probabilities); a holdout user sees none and so never
redeems. Budgets are left out (the world's budgets are not reached by one group of users in
the window at the demo's sizes).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys_spark.simulate.world import (
    World,
    item_probabilities,
    response_probabilities,
    user_params,
)


@dataclass(frozen=True)
class UpliftWorld:
    """Per user: daily visit probabilities (n_users, days) and the true P(redeem) of each of
    their planned promotions (n_users, slots)."""

    visit: np.ndarray
    p_redeem: np.ndarray

    @property
    def n_users(self) -> int:
        return self.visit.shape[0]

    def true_effects(self) -> dict[str, float]:
        """The average treatment effect over all users of the window: expected redemptions per
        user and the probability of at least one, treated minus holdout (holdout: 0)."""
        per_day_none = 1.0 - self.visit + self.visit * np.prod(1.0 - self.p_redeem, axis=1)[:, None]
        respond = 1.0 - np.prod(per_day_none, axis=1)
        redemptions = self.visit.sum(axis=1) * self.p_redeem.sum(axis=1)
        return {"response_rate": float(respond.mean()), "redemptions_per_user": float(redemptions.mean())}

    def draw(self, rng: np.random.Generator, holdout_share: float) -> tuple[np.ndarray, np.ndarray]:
        """One trial: (is_control per user, redemptions per user)."""
        is_control = rng.random(self.n_users) < holdout_share
        visits = rng.random(self.visit.shape) < self.visit
        shown = visits[:, :, None] & ~is_control[:, None, None]
        draws = rng.random((*self.visit.shape, self.p_redeem.shape[1]))
        redeemed = shown & (draws < self.p_redeem[:, None, :])
        return is_control, redeemed.sum(axis=(1, 2))


def uplift_world(world: World, days: int, first_day: int = 0) -> UpliftWorld:
    """The world's users over ``days`` days from day index ``first_day``."""
    cfg = world.config
    idx = np.arange(cfg.n_users, dtype=np.int64)
    params = user_params(world, idx)
    probs = None if world.catalog is not None else item_probabilities(world, params.taste)
    p_redeem, _ = response_probabilities(world, params, probs)
    active = world.active_promos(first_day)
    k = min(cfg.promo_slots, len(active))
    best = active[np.argsort(-p_redeem[:, active], axis=1, kind="stable")[:, :k]]
    mean_sessions = params.activity * cfg.sessions_per_user_day
    q = mean_sessions / (1.0 + mean_sessions)
    day = first_day + np.arange(days)[None, :]
    visit = np.where(params.signup_day[:, None] <= day, q[:, None], 0.0)
    return UpliftWorld(visit=visit, p_redeem=np.take_along_axis(p_redeem, best, axis=1))
