"""The bandit's policies in closed loop on the simulator's ground truth, in numpy, over many worlds.

Why not the Spark loop (runner.py): it runs bandit, simulator and clean for every policy and
day (about 5 minutes for 3 policies x 3 days of the tiny world on 2 cores, its warm-up
included), so 20+ worlds x 6 policies x 14 days would take days of machine time. Here a world x
policy x 14 days takes well under a second, with the simulator's own visits, impressions,
redeems and redeem delays (truth_world.py) and the bandit's own formulas (truth_policies.py).

One run, for one world and one policy, mirrors runner.run_loop:

1. warm-up: days 0..W-1 show the simulator's uniform-random promotions (what the warm-up logs
   hold in the Spark loop);
2. loop day d = 1..L, run date D = W - 2 + d: arm posteriors from the impressions logged up to D
   (decayed by age, redeems credited when they landed by D within the attribution window, as
   bandit/arm_stats.py), priors from the model stand-in rescaled by the calibration k
   (bandit/priors.py), candidates = eligible promotions active on D that the frequency cap
   allows, the policy's choice (truth_policies.py), shown on D + 1 to the users who visit
   while the promotion runs; the simulator's redeems of those impressions join the log;
3. each day is measured as loop/measure.py measures the Spark loop: expected reward = the true
   P(redeem) of the impressions shown, oracle = each shown user's best true P(redeem) among the
   promotions running that day (as many as the user was shown), regret = the difference.

Left out, the same for every policy: budgets (the worlds here have budgets the loop does not
exhaust: promo_budget_scale), the holdout, user segments (one global context, as the bandit with
no `user_segments`), the response model's retraining (its stand-in is fixed: truth_world.py)
and last-touch attribution across repeated impressions of one promotion (each redeem is credited
to the impression that caused it).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from recsys_spark.loop.truth_policies import Candidates, choose
from recsys_spark.loop.truth_world import DAY_MS, TruthWorld, truth_world
from recsys_spark.settings.bandit import BanditConfig
from recsys_spark.settings.simulate import SimulatorConfig

_EPS = 1e-6
LEARNING_POLICIES = ("thompson", "ucb1", "bayes_ucb", "greedy", "epsilon_greedy")


@dataclass
class ImpressionLog:
    """Every impression shown so far and what became of it."""

    user: list[np.ndarray] = field(default_factory=list)
    promo: list[np.ndarray] = field(default_factory=list)
    day: list[np.ndarray] = field(default_factory=list)
    ms: list[np.ndarray] = field(default_factory=list)
    credited: list[np.ndarray] = field(default_factory=list)
    redeem_day: list[np.ndarray] = field(default_factory=list)

    def show(self, world: TruthWorld, users: np.ndarray, promos: np.ndarray, positions: np.ndarray,
             day: int, window_hours: int) -> np.ndarray:
        """Show ``promos[i]`` to ``users[i]`` on ``day``; returns the redeemed flags."""
        answer = world.respond(users, day, promos, positions, window_hours)
        for name, values in (("user", users), ("promo", promos), ("day", np.full(len(users), day)),
                             ("ms", answer.impression_ms), ("credited", answer.credited),
                             ("redeem_day", answer.redeem_day)):
            getattr(self, name).append(values)
        return answer.redeemed

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: np.concatenate(getattr(self, name)) if getattr(self, name) else np.array([])
                for name in ("user", "promo", "day", "ms", "credited", "redeem_day")}


def candidates(world: TruthWorld, log: ImpressionLog, run_day: int, config: BanditConfig) -> Candidates:
    """The run date's candidates with their global-context posteriors (bandit/arms.py's rules).

    Raises:
        ValueError: config.prior_strength_method is not 'fixed' (the only one mirrored here).
    """
    if config.prior_strength_method != "fixed":
        raise ValueError("prior_strength_method: the ground-truth loop mirrors 'fixed' only")
    logged = log.arrays()
    n_promos = world.n_promos
    scored = world.eligible & world.is_active(run_day)[None, :]
    in_window = (logged["day"] > run_day - config.window_days) & (logged["day"] <= run_day)
    end_ms = world.world.start_ms + (run_day + 1) * DAY_MS
    promo = logged["promo"][in_window].astype(np.int64)
    weight = np.power(2.0, -(end_ms - logged["ms"][in_window]) / DAY_MS / config.half_life_days)
    reward = (logged["credited"][in_window].astype(bool)
              & (logged["redeem_day"][in_window] <= run_day))
    impressions = np.bincount(promo, weights=weight, minlength=n_promos)
    rewards = np.bincount(promo, weights=weight * reward, minlength=n_promos)
    has_scores = scored.any(axis=0)
    with np.errstate(invalid="ignore"):
        segment_mean = np.where(has_scores, (world.p_model * scored).sum(axis=0)
                                / np.maximum(scored.sum(axis=0), 1), 0.0)
    s = config.prior_strength
    pseudo = s * float(segment_mean[has_scores].mean()) if has_scores.any() else 0.0
    expected = float((impressions * segment_mean)[has_scores].sum()) + pseudo
    calibration = (float(rewards[has_scores].sum()) + pseudo) / expected if expected > 0 else 1.0
    prior = np.clip(segment_mean * calibration, _EPS, 1 - _EPS)
    alpha = prior * s + rewards
    beta = (1 - prior) * s + impressions - rewards
    lift = np.clip(1 + config.user_weight * (world.p_model / np.maximum(segment_mean, 1e-9)[None, :] - 1),
                   0.0, config.max_user_lift)
    valid = scored & ~_capped(world, logged, run_day, config)
    return Candidates(valid=valid, lift=lift, alpha=alpha, beta=beta, promo_type=world.promo_type,
                      user_keys=world.user_keys,
                      pseudo_count=float((alpha + beta)[has_scores].sum()))


def _capped(world: TruthWorld, logged: dict[str, np.ndarray], run_day: int, config: BanditConfig
            ) -> np.ndarray:
    """(users, promos) bool: shown >= frequency_cap_impressions times in the cap window."""
    recent = (logged["day"] > run_day - config.frequency_cap_days) & (logged["day"] <= run_day)
    shown = np.zeros((world.n_users, world.n_promos))
    np.add.at(shown, (logged["user"][recent].astype(np.int64), logged["promo"][recent].astype(np.int64)), 1)
    return shown >= config.frequency_cap_impressions


def run_policy(world: TruthWorld, config: BanditConfig, policy: str, warmup_days: int, loop_days: int,
               seed: int) -> pd.DataFrame:
    """One policy's loop on one world.

    Returns:
        One row per loop day: loop_day, shown_day, shown_users, impressions, expected_reward,
        oracle_reward, regret, realized_rewards, cumulative_regret.
    """
    log = ImpressionLog()
    window = config.attribution_window_hours
    for day in range(warmup_days):
        users = np.flatnonzero(world.visitors(day))
        chosen, _, _ = world.logging_policy(users, day)
        k = chosen.shape[1]
        log.show(world, np.repeat(users, k), chosen.ravel(), np.tile(np.arange(1, k + 1), len(users)),
                 day, window)
    rows = []
    for loop_day in range(1, loop_days + 1):
        run_day = warmup_days - 2 + loop_day
        shown_day = run_day + 1
        chosen = choose(candidates(world, log, run_day, config), config, policy, seed, run_day)
        slot = np.broadcast_to(np.arange(1, chosen.shape[1] + 1), chosen.shape)
        is_shown = ((chosen >= 0) & world.visitors(shown_day)[:, None]
                    & world.is_active(shown_day)[np.maximum(chosen, 0)])
        users, promos, positions = np.nonzero(is_shown)[0], chosen[is_shown], slot[is_shown]
        redeemed = log.show(world, users, promos, positions, shown_day, window)
        rows.append({"loop_day": loop_day, "shown_day": shown_day,
                     **day_rewards(world, users, promos, shown_day), "realized_rewards": int(redeemed.sum())})
    out = pd.DataFrame(rows)
    out["cumulative_regret"] = out["regret"].cumsum()
    return out


def day_rewards(world: TruthWorld, users: np.ndarray, promos: np.ndarray, day: int) -> dict[str, float]:
    """shown_users, impressions, expected_reward, oracle_reward, regret (loop/measure.py's rules)."""
    if len(users) == 0:
        return {"shown_users": 0, "impressions": 0, "expected_reward": 0.0, "oracle_reward": 0.0,
                "regret": 0.0}
    shown_users, n_shown = np.unique(users, return_counts=True)
    truth = np.where(world.is_active(day)[None, :], world.p_redeem[shown_users], -np.inf)
    best = -np.sort(-truth, axis=1)
    oracle = float(sum(best[i, :n].sum() for i, n in enumerate(n_shown)))
    expected = float(world.p_redeem[users, promos].sum())
    return {"shown_users": len(shown_users), "impressions": len(users), "expected_reward": expected,
            "oracle_reward": oracle, "regret": oracle - expected}


def best_is_new(world: TruthWorld, warmup_days: int, loop_days: int) -> bool:
    """Whether the promotion with the highest mean true P(redeem) among those running during the
    loop launched after the warm-up (so no warm-up log shows it)."""
    shown_days = range(warmup_days, warmup_days + loop_days)
    running = np.flatnonzero(np.any([world.is_active(d) for d in shown_days], axis=0))
    best = running[np.argmax(world.p_redeem[:, running].mean(axis=0))]
    return bool(world.world.promos["start_day"].to_numpy()[best] >= warmup_days)


def compare_policies(sim_config: SimulatorConfig, seeds: Sequence[int], config: BanditConfig,
                     policies: Sequence[str], warmup_days: int, loop_days: int) -> pd.DataFrame:
    """Every policy on every world (one world per seed; the bandit's draws use the same seed).

    Returns:
        One row per (seed, policy): seed, policy, cumulative_regret, cumulative_reward,
        cumulative_oracle, realized_rewards, best_is_new.
    """
    rows = []
    for seed in seeds:
        world = truth_world(sim_config, seed)
        new_best = best_is_new(world, warmup_days, loop_days)
        for policy in policies:
            days = run_policy(world, config, policy, warmup_days, loop_days, seed)
            rows.append({"seed": seed, "policy": policy,
                         "cumulative_regret": float(days["regret"].sum()),
                         "cumulative_reward": float(days["expected_reward"].sum()),
                         "cumulative_oracle": float(days["oracle_reward"].sum()),
                         "realized_rewards": int(days["realized_rewards"].sum()),
                         "best_is_new": new_best})
    return pd.DataFrame(rows)


def mean_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, lower, upper): Student-t interval of the mean over worlds."""
    x = np.asarray(values, dtype=float)
    mean = float(x.mean())
    if len(x) < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return mean, mean - half, mean + half


def regret_table(results: pd.DataFrame) -> pd.DataFrame:
    """Per policy: worlds, mean cumulative regret with its 95% interval, regret share, and the
    paired comparison with random and greedy (mean difference per world with its 95% interval,
    and the share of worlds where the policy's regret is lower)."""
    wide = results.pivot(index="seed", columns="policy", values="cumulative_regret")
    oracle = results.pivot(index="seed", columns="policy", values="cumulative_oracle")
    rows = []
    for policy in wide.columns:
        mean, lo, hi = mean_interval(wide[policy])
        row = {"policy": policy, "worlds": int(wide[policy].count()), "mean_regret": mean,
               "ci_low": lo, "ci_high": hi,
               "regret_share": float(wide[policy].sum() / oracle[policy].sum())}
        for other in ("random", "greedy"):
            if other in wide.columns and other != policy:
                diff = wide[policy] - wide[other]
                d_mean, d_lo, d_hi = mean_interval(diff)
                row[f"vs_{other}"] = d_mean
                row[f"vs_{other}_ci"] = (d_lo, d_hi)
                row[f"below_{other}"] = float((diff < 0).mean())
        rows.append(row)
    return pd.DataFrame(rows).sort_values("mean_regret").reset_index(drop=True)
