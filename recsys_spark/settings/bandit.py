"""BanditConfig: the `bandit:` section of the YAML config (policy, priors, constraints, OPE)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PolicyName = Literal["thompson", "ucb1", "bayes_ucb", "greedy", "epsilon_greedy", "random"]
POLICIES: tuple[str, ...] = ("thompson", "ucb1", "bayes_ucb", "greedy", "epsilon_greedy", "random")


@dataclass(frozen=True)
class BanditConfig:
    """How promotions are chosen per user. Every field has a default; see conf/base.yaml."""

    policy: PolicyName = "thompson"
    # epsilon_greedy: share of users (keyed per user and run date) who get the random ordering.
    epsilon: float = 0.1
    # ucb1: index = lift * posterior mean + ucb_c * sqrt(2 ln(total pseudo-count) / arm pseudo-count).
    ucb_c: float = 0.5
    # bayes_ucb: score = lift * this quantile of the segment posterior.
    ucb_quantile: float = 0.95
    # A reward is this event for the same (user, promotion) within the window after an impression
    # (the same attribution as the response model).
    reward_event: Literal["promo_click", "promo_redeem"] = "promo_redeem"
    attribution_window_hours: int = 72
    # Arm statistics: impressions within window_days before the run date, weighted 2^(-age/half-life).
    half_life_days: float = 14.0
    window_days: int = 60
    # Beta prior: mean from the response model, strength fixed or fitted (method of moments) per
    # promotion across segment contexts, clamped to [prior_strength_min, prior_strength_max].
    prior_strength_method: Literal["fixed", "moments"] = "fixed"
    prior_strength: float = 20.0
    prior_strength_min: float = 2.0
    prior_strength_max: float = 500.0
    # Weight of the user's own predicted response against the segment (user -> segment shrinkage):
    # lift = 1 + user_weight * (p_user / segment mean p - 1), clipped to [0, max_user_lift].
    user_weight: float = 1.0
    max_user_lift: float = 5.0
    # Slots and constraints.
    slots_per_user: int = 3
    one_per_promo_type: bool = True
    frequency_cap_impressions: int = 3          # at most this many impressions of one promotion ...
    frequency_cap_days: int = 7                 # ... per user in this many days (then not eligible)
    holdout_share: float = 0.05                 # stable hashed share of users who get no promotion
    allocation_rounds: int = 3                  # budget allocation rounds (fall back to next candidate)
    # A promotion given to a user is only redeemed if the user visits while it is shown, so the
    # budget counts expected_response x P(visit): the user's share of active days over the last
    # visit_window_days days that have events, smoothed toward the users' mean rate with
    # visit_prior_days pseudo-days. 0 = count every assigned user as visiting (P(visit) = 1).
    visit_window_days: int = 14
    visit_prior_days: float = 2.0
    # Thompson propensities: Monte Carlo over this many keyed posterior draws per user x candidate,
    # over at most propensity_max_candidates candidates per user (cost: users x candidates x draws).
    propensity_draws: int = 100
    propensity_max_candidates: int = 20
    # Off-policy evaluation.
    bootstrap_replicates: int = 200
    bootstrap_blocks: int = 1000
    ope_train_fraction: float = 0.5
    # A/B readout (`recsys readout`): holdout vs treated users over the last readout_window_days;
    # a sample-ratio-mismatch p-value below readout_srm_alpha flags the readout's rows.
    readout_window_days: int = 14
    readout_confidence: float = 0.95
    readout_srm_alpha: float = 0.001
    # Policy monitor (policy_monitor): a figure above its threshold flags the run (never fails it).
    monitor_max_exploration_rate: float = 0.5
    monitor_max_psi: float = 0.25
    monitor_max_budget_burn_rate: float = 0.2    # share of a budget redeemed per day
    monitor_max_frequency_cap_share: float = 0.5
    monitor_max_ece_drift: float = 0.05

    def __post_init__(self) -> None:
        checks = [
            ("epsilon", 0.0 <= self.epsilon <= 1.0, "must be in [0, 1]"),
            ("ucb_c", self.ucb_c >= 0.0, "must be >= 0"),
            ("ucb_quantile", 0.5 <= self.ucb_quantile < 1.0, "must be in [0.5, 1)"),
            ("attribution_window_hours", self.attribution_window_hours >= 1, "must be >= 1"),
            ("half_life_days", self.half_life_days > 0.0, "must be > 0"),
            ("window_days", self.window_days >= 1, "must be >= 1"),
            ("prior_strength", self.prior_strength > 0.0, "must be > 0"),
            ("prior_strength_min", 0.0 < self.prior_strength_min <= self.prior_strength_max,
             "must be > 0 and <= prior_strength_max"),
            ("user_weight", 0.0 <= self.user_weight <= 1.0, "must be in [0, 1]"),
            ("max_user_lift", self.max_user_lift >= 1.0, "must be >= 1"),
            ("slots_per_user", self.slots_per_user >= 1, "must be >= 1"),
            ("frequency_cap_impressions", self.frequency_cap_impressions >= 1, "must be >= 1"),
            ("frequency_cap_days", self.frequency_cap_days >= 1, "must be >= 1"),
            ("holdout_share", 0.0 <= self.holdout_share < 1.0, "must be in [0, 1)"),
            ("allocation_rounds", self.allocation_rounds >= 1, "must be >= 1"),
            ("visit_window_days", self.visit_window_days >= 0, "must be >= 0 (0 = no visit discount)"),
            ("visit_prior_days", self.visit_prior_days > 0.0, "must be > 0"),
            ("propensity_draws", self.propensity_draws >= 1, "must be >= 1"),
            ("propensity_max_candidates", self.propensity_max_candidates >= self.slots_per_user,
             "must be >= slots_per_user"),
            ("bootstrap_replicates", self.bootstrap_replicates >= 10, "must be >= 10"),
            ("bootstrap_blocks", self.bootstrap_blocks >= 10, "must be >= 10"),
            ("ope_train_fraction", 0.0 < self.ope_train_fraction < 1.0, "must be in (0, 1)"),
            ("readout_window_days", self.readout_window_days >= 1, "must be >= 1"),
            ("readout_confidence", 0.0 < self.readout_confidence < 1.0, "must be in (0, 1)"),
            ("readout_srm_alpha", 0.0 < self.readout_srm_alpha < 1.0, "must be in (0, 1)"),
            ("monitor_max_exploration_rate", 0.0 <= self.monitor_max_exploration_rate <= 1.0,
             "must be in [0, 1]"),
            ("monitor_max_psi", self.monitor_max_psi >= 0.0, "must be >= 0"),
            ("monitor_max_budget_burn_rate", self.monitor_max_budget_burn_rate >= 0.0, "must be >= 0"),
            ("monitor_max_frequency_cap_share", 0.0 <= self.monitor_max_frequency_cap_share <= 1.0,
             "must be in [0, 1]"),
            ("monitor_max_ece_drift", self.monitor_max_ece_drift >= 0.0, "must be >= 0"),
        ]
        for name, ok, why in checks:
            if not ok:
                raise ValueError(f"{name}: {why}")
