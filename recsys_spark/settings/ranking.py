"""RankingConfig: the `ranking:` section — how every published ranking is chosen and measured.

The same windows, metric, relevance and baselines judge items for a user (als stage),
categories for a user (features stage) and neighbours of an item (similarity stage); see
docs/rankings.md.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from recsys_spark.domain.events import ITEM_EVENT_TYPES


def _default_history_weights() -> dict[str, float]:
    # What one event says about a user's interest: a purchase far more than a view.
    return {"view": 1.0, "click": 2.0, "add_to_cart": 4.0, "purchase": 8.0}


@dataclass(frozen=True)
class RankingConfig:
    """Settings shared by every ranking's evaluation (section ``ranking`` in conf/base.yaml)."""

    # Chronological windows: ... train | validation (chooses) | test (reports); the published
    # output is the winner refitted on every day up to the run date.
    validation_days: int = 1
    test_days: int = 1
    # Metrics at k (NDCG@k decides).
    k: int = 10
    # An event of these types in a window makes its key relevant for the user.
    relevant_event_types: tuple[str, ...] = ("click", "add_to_cart", "purchase")
    # Users judged per window: at most this many (a stable hash sample), and a window with fewer
    # than min_eval_users cannot choose: the ranking's fallback baseline is published.
    max_eval_users: int = 20_000
    min_eval_users: int = 10
    # The user's own history (baseline and blend feature): weight per event type, halved every
    # history_half_life_days before the end of the cut.
    history_weights: Mapping[str, float] = field(default_factory=_default_history_weights)
    history_half_life_days: float = 7.0
    # Co-occurrence candidates score the neighbours of the user's most recent keys.
    recent_keys: int = 10
    # The blend ranks the union of each component's top blend_pool keys per user with a
    # logistic regression fitted on the validation window.
    blend_pool: int = 30
    blend_reg_param: float = 0.01
    blend_max_iter: int = 50

    def __post_init__(self) -> None:
        object.__setattr__(self, "history_weights", dict(self.history_weights))
        for name in ("validation_days", "test_days", "k", "max_eval_users", "min_eval_users",
                     "recent_keys", "blend_pool", "blend_max_iter"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1")
        if self.min_eval_users > self.max_eval_users:
            raise ValueError("min_eval_users: must be <= max_eval_users")
        bad = [t for t in self.relevant_event_types if t not in ITEM_EVENT_TYPES]
        if bad or not self.relevant_event_types:
            raise ValueError(f"relevant_event_types: need item event types "
                             f"({', '.join(ITEM_EVENT_TYPES)}), got {bad or 'none'}")
        for name, weight in self.history_weights.items():
            if name not in ITEM_EVENT_TYPES:
                raise ValueError(f"history_weights: unknown event type {name!r}")
            if weight < 0:
                raise ValueError(f"history_weights: weight of {name!r} must be >= 0")
        if not any(w > 0 for w in self.history_weights.values()):
            raise ValueError("history_weights: at least one event type needs a weight > 0")
        if self.history_half_life_days <= 0:
            raise ValueError("history_half_life_days: must be > 0")
        if self.blend_reg_param < 0:
            raise ValueError("blend_reg_param: must be >= 0")
        if self.blend_pool < self.k:
            raise ValueError("blend_pool: must be >= k")

    def weighted_event_types(self) -> list[str]:
        return sorted(t for t, w in self.history_weights.items() if w > 0)
