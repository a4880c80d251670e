"""The simulator's world as numpy arrays, for running bandit policies on the ground truth.

The closed loop (runner.py) runs the whole pipeline per day; a comparison over many worlds needs
the policies' decisions and the shop's answers without it. This module gives the answers the
simulator itself would give, from the same keyed draws (simulate/behaviour.py), so nothing here
is a second model of the shop:

* who visits on day d: a registered user who has signed up and whose session count for (user,
  day) is > 0 (``rng.geometric`` on stream S_SESSIONS, as the generator);
* the uniform-random promotions the simulator shows on its own (stream S_POLICY): min(slots,
  active) of the active promotions, each in a given slot with probability 1 / active;
* whether a shown promotion is clicked and redeemed (streams S_PROMO_CLICK, S_PROMO_REDEEM) and
  how late the redeem arrives (S_REDEEM_DELAY): 1-3 days for delayed_redeem_share of them.
  A redeem 3 days late falls outside the bandit's 72-hour attribution window (the delay is
  3 days plus up to 6 hours after the click), so it never reaches the arm statistics.

What the pipeline would have learned is a stand-in: ``p_model`` is the true P(redeem) with the
promotions' hidden appeal set to 0, i.e. a response model that learned everything the catalog
attributes and the user's behaviour tell, and nothing else. ``eligible`` follows the response
stage's targeting (a promotion for some categories is scored for a user who browsed one of
them): here, the user's expected views in those categories over ``browse_days`` are >= 1.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

import numpy as np

from recsys_spark.settings.simulate import SimulatorConfig
from recsys_spark.simulate import rng
from recsys_spark.simulate.world import (
    World,
    build_world,
    item_probabilities,
    response_probabilities,
    user_params,
)

START = dt.date(2026, 11, 1)
MAX_SESSIONS = 12  # as behaviour._organic
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Response:
    """The simulator's answer to shown promotions (arrays aligned with the impressions)."""

    redeemed: np.ndarray       # bool
    redeem_day: np.ndarray     # day index the redeem event lands on (meaningless when not redeemed)
    credited: np.ndarray       # bool: redeemed within the attribution window of the impression
    impression_ms: np.ndarray  # epoch ms of each impression


@dataclass(frozen=True)
class TruthWorld:
    """One simulated world's users x promotions, as arrays (promotions in promotion_id order)."""

    world: World
    user_keys: np.ndarray      # (users,) user index = the simulator's key (u{key:07d})
    p_redeem: np.ndarray       # (users, promos) true P(redeem | shown)
    p_click: np.ndarray        # (users, promos) true P(click | shown)
    p_model: np.ndarray        # (users, promos) the response-model stand-in (no hidden appeal)
    eligible: np.ndarray       # (users, promos) bool: scored by the response stage's targeting
    activity: np.ndarray       # (users,)
    signup_day: np.ndarray     # (users,)

    @property
    def seed(self) -> int:
        return self.world.seed

    @property
    def n_users(self) -> int:
        return len(self.user_keys)

    @property
    def n_promos(self) -> int:
        return self.p_redeem.shape[1]

    @property
    def promo_type(self) -> np.ndarray:
        return self.world.promos["type_idx"].to_numpy()

    @property
    def new_promos(self) -> np.ndarray:
        """Indexes of promotions launching on day >= 0 (after the world's start)."""
        return np.flatnonzero(self.world.promos["start_day"].to_numpy() >= 0)

    def is_active(self, day: int) -> np.ndarray:
        """(promos,) bool: running on simulated day ``day``."""
        p = self.world.promos
        return (p["start_day"].to_numpy() <= day) & (p["end_day"].to_numpy() >= day)

    def sessions(self, day: int) -> np.ndarray:
        """(users,) the number of sessions of each user on ``day`` (the simulator's own draw)."""
        cfg = self.world.config
        h = rng.hash_keys(self.seed, rng.S_SESSIONS, self.user_keys, np.int64(day))
        n_sess = np.minimum(rng.geometric(rng.to_uniform(h), self.activity * cfg.sessions_per_user_day),
                            MAX_SESSIONS)
        return np.where(self.signup_day <= day, n_sess, 0)

    def visitors(self, day: int) -> np.ndarray:
        """(users,) bool: the user visits on ``day`` (and so sees the promotions planned for it)."""
        return self.sessions(day) > 0

    def first_session_ms(self, users: np.ndarray, day: int) -> np.ndarray:
        """Epoch ms of the first session of visiting ``users`` on ``day`` (promotions are shown there)."""
        n_sess = self.sessions(day)[users]
        first = np.full(len(users), np.iinfo(np.int64).max)
        for k in range(int(n_sess.max(initial=0))):
            u = rng.to_uniform(rng.hash_keys(self.seed, rng.S_SESSION_START, self.user_keys[users],
                                             np.int64(day), np.int64(k)))
            start = (self.world.start_ms + day * DAY_MS + 6 * 3_600_000
                     + (u * 18 * 3_600_000).astype(np.int64))
            first = np.where(k < n_sess, np.minimum(first, start), first)
        return first

    def logging_policy(self, users: np.ndarray, day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The simulator's built-in uniform-random promotions for visiting ``users`` on ``day``.

        Returns:
            (promotions (len(users), k) in slot order, k = min(promo_slots, active), and the
            propensity 1 / active of every shown promotion as a (len(users), k) array); plus
            the number of active promotions as a 0-d array.
        """
        active = np.flatnonzero(self.is_active(day))
        k = min(self.world.config.promo_slots, len(active))
        u = rng.to_uniform(rng.hash_keys(self.seed, rng.S_POLICY, self.user_keys[users][:, None],
                                         np.int64(day), active[None, :]))
        chosen = active[np.argsort(u, axis=1, kind="stable")[:, :k]]
        return chosen, np.full(chosen.shape, 1.0 / max(len(active), 1)), np.asarray(len(active))

    def respond(self, users: np.ndarray, day: int, promos: np.ndarray, positions: np.ndarray,
                window_hours: int) -> Response:
        """The simulator's answer to showing ``promos[i]`` in slot ``positions[i]`` to visiting
        ``users[i]`` on ``day`` (the same draws and times as behaviour._promotions)."""
        key = self.user_keys[users]
        pr, pc = self.p_redeem[users, promos], self.p_click[users, promos]
        base = {stream: rng.hash_keys(self.seed, stream, key, np.int64(day), promos)
                for stream in (rng.S_PROMO_CLICK, rng.S_PROMO_REDEEM, rng.S_REDEEM_DELAY)}

        def u(stream: int, *extra: int) -> np.ndarray:
            return rng.to_uniform(rng.hash_extend(base[stream], *extra) if extra else base[stream])

        clicked = u(rng.S_PROMO_CLICK) < pc
        redeemed = clicked & (u(rng.S_PROMO_REDEEM) < pr / pc)
        first = self.first_session_ms(np.unique(users), day)
        t_imp = first[np.searchsorted(np.unique(users), users)] + 2_000 + positions * 100
        t_click = t_imp + 5_000 + (u(rng.S_PROMO_CLICK, 1) * 55_000).astype(np.int64)
        late_days = 1 + (u(rng.S_REDEEM_DELAY, 2) * 3).astype(np.int64)
        delay = np.where(u(rng.S_REDEEM_DELAY) < self.world.config.delayed_redeem_share,
                         late_days * DAY_MS + (u(rng.S_REDEEM_DELAY, 1) * 3_600_000 * 6),
                         60_000 + u(rng.S_REDEEM_DELAY, 1) * 7_140_000).astype(np.int64)
        t_redeem = t_click + delay
        return Response(redeemed=redeemed,
                        redeem_day=(t_redeem - self.world.start_ms) // DAY_MS,
                        credited=redeemed & (t_redeem - t_imp <= window_hours * 3_600_000),
                        impression_ms=t_imp)


def truth_world(config: SimulatorConfig, seed: int, browse_days: int = 7) -> TruthWorld:
    """The world of ``seed`` (users 0..n_users-1; bots and anonymous visitors never see promotions)."""
    world = build_world(config, seed, START)
    keys = np.arange(config.n_users, dtype=np.int64)
    params = user_params(world, keys)
    probs = None if world.catalog is not None else item_probabilities(world, params.taste)
    p_redeem, p_click = response_probabilities(world, params, probs)
    plain = dataclasses.replace(world, promos=world.promos.assign(appeal=0.0))
    p_model, _ = response_probabilities(plain, params, probs)
    return TruthWorld(world=world, user_keys=keys, p_redeem=p_redeem, p_click=p_click, p_model=p_model,
                      eligible=_eligible(world, params, probs, browse_days), activity=params.activity,
                      signup_day=params.signup_day)


def _eligible(world: World, params, probs: np.ndarray | None, browse_days: int) -> np.ndarray:
    cfg = world.config
    if probs is None:  # the realistic model: its long-run browse shares per top category
        from recsys_spark.simulate.world import realistic_top_share

        top_share = realistic_top_share(world, params)
    else:
        top_share = np.stack([probs[:, world.item_top == t].sum(axis=1)
                              for t in range(cfg.n_top_categories)], axis=1)
    views = params.activity * cfg.sessions_per_user_day * cfg.views_per_session * browse_days
    # (users, promos): expected views in the promotion's categories (every category: all views)
    expected = views[:, None] * (top_share @ world.promo_elig.T.astype(float))
    return (expected >= 1.0) | world.promo_elig.all(axis=1)[None, :]
