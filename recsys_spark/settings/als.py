"""AlsConfig: every knob of the ALS stage (confidence, model, candidates, evaluation, tuning)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from recsys_spark.domain.events import ITEM_EVENT_TYPES

# Event types the clean stage emits that say something about a user's taste for an item.


def _default_event_weights() -> dict[str, float]:
    # A purchase says much more than a view; remove_from_cart is left out (weight 0 = ignored).
    return {"view": 1.0, "click": 2.0, "add_to_cart": 4.0, "purchase": 8.0}


@dataclass(frozen=True)
class AlsConfig:
    """Settings of the `als` stage (section ``als`` in conf/base.yaml)."""

    # --- confidence from events -------------------------------------------------------------
    # Weight per event type; types not listed (or weight 0) do not count as interactions.
    event_weights: Mapping[str, float] = field(default_factory=_default_event_weights)
    # An event this many days old counts half; None = no decay.
    recency_half_life_days: float | None = 30.0
    # rating = log1p(weighted_sum / log_epsilon) when true (Hu, Koren & Volinsky 2008), else the sum.
    log_scaling: bool = True
    log_epsilon: float = 1.0
    # Only events with event_date in (run_date - window_days, run_date] are read.
    window_days: int = 180

    # --- MLlib ALS --------------------------------------------------------------------------
    rank: int = 16
    max_iter: int = 10
    reg_param: float = 0.1
    # Confidence = 1 + alpha * rating (MLlib implicit ALS).
    alpha: float = 10.0
    nonnegative: bool = False
    num_user_blocks: int = 10
    num_item_blocks: int = 10
    # Factors are checkpointed every N iterations so lineage stays short (needs the session's
    # checkpoint dir, which spark.py sets from spark.checkpoint_dir).
    checkpoint_interval: int = 5

    # --- recommendations --------------------------------------------------------------------
    top_n: int = 20
    exclude_purchased: bool = True
    # Candidates = items of the user's top categories (by interaction strength) + popular items.
    candidate_top_categories: int = 3
    # Category granularity of candidate categories: "full" = "top.sub", "top" = top level.
    candidate_category_level: Literal["top", "full"] = "full"
    # Most popular items kept per candidate category (bounds the candidate set for big catalogs).
    candidate_items_per_category: int = 200
    candidate_popular_items: int = 100
    # Users without factors: "segment" = popular in their user_segments segment (when that
    # table exists), then globally popular; "popular" = globally popular only.
    cold_start: Literal["segment", "popular"] = "segment"

    # --- evaluation and tuning --------------------------------------------------------------
    evaluate: bool = True
    k: int = 10
    # Chronological split: the last holdout_days up to run_date are the test period.
    holdout_days: int = 1
    # A test-period event of these types makes the item relevant for the user.
    relevant_event_types: tuple[str, ...] = ("click", "add_to_cart", "purchase")
    tune_ranks: tuple[int, ...] = (8, 16, 32)
    tune_reg_params: tuple[float, ...] = (0.01, 0.1)
    tune_alphas: tuple[float, ...] = (1.0, 10.0, 40.0)

    def __post_init__(self) -> None:
        # The loader hands mappings over as read-only MappingProxyType, which dataclasses.asdict
        # (used by AppConfig.fingerprint) cannot deep-copy; a private plain dict copy can.
        object.__setattr__(self, "event_weights", dict(self.event_weights))
        for name, weight in self.event_weights.items():
            if name not in ITEM_EVENT_TYPES:
                raise ValueError(f"event_weights: unknown event type {name!r} "
                                 f"(use {', '.join(ITEM_EVENT_TYPES)})")
            if weight < 0:
                raise ValueError(f"event_weights: weight of {name!r} must be >= 0")
        if not any(w > 0 for w in self.event_weights.values()):
            raise ValueError("event_weights: at least one event type needs a weight > 0")
        if self.recency_half_life_days is not None and self.recency_half_life_days <= 0:
            raise ValueError("recency_half_life_days: must be > 0 (or null for no decay)")
        if self.log_epsilon <= 0:
            raise ValueError("log_epsilon: must be > 0")
        positive = ("window_days", "rank", "max_iter", "num_user_blocks", "num_item_blocks",
                    "checkpoint_interval", "top_n", "candidate_top_categories",
                    "candidate_items_per_category", "k", "holdout_days")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1")
        if self.candidate_popular_items < 0:
            raise ValueError("candidate_popular_items: must be >= 0")
        if self.reg_param < 0:
            raise ValueError("reg_param: must be >= 0")
        if self.alpha < 0:
            raise ValueError("alpha: must be >= 0")
        if self.holdout_days >= self.window_days:
            raise ValueError("holdout_days: must be smaller than window_days")
        bad = [t for t in self.relevant_event_types if t not in ITEM_EVENT_TYPES]
        if bad or not self.relevant_event_types:
            raise ValueError(f"relevant_event_types: need item event types, got {bad or 'none'}")
        if not (self.tune_ranks and self.tune_reg_params and self.tune_alphas):
            raise ValueError("tune_ranks: the tuning grid needs at least one value per parameter")
        if any(r < 1 for r in self.tune_ranks):
            raise ValueError("tune_ranks: must be >= 1")
        if any(r < 0 for r in self.tune_reg_params):
            raise ValueError("tune_reg_params: must be >= 0")
        if any(a < 0 for a in self.tune_alphas):
            raise ValueError("tune_alphas: must be >= 0")

    def weighted_event_types(self) -> list[str]:
        """Event types that count as interactions (weight > 0), sorted."""
        return sorted(t for t, w in self.event_weights.items() if w > 0)
