"""SimilarityConfig: the `similarity:` section of the YAML config."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Measure = Literal["cosine", "jaccard", "lift"]


@dataclass(frozen=True)
class EventWeights:
    """Weight of one event by type (a dataclass, not a dict: config dicts do not fingerprint)."""

    view: float = 1.0
    click: float = 1.0
    add_to_cart: float = 3.0
    purchase: float = 5.0

    def __post_init__(self) -> None:
        if min(self.view, self.click, self.add_to_cart, self.purchase) <= 0:
            raise ValueError("view: every weight must be > 0")
        if not self.view < self.add_to_cart < self.purchase:
            raise ValueError("view: need view < add_to_cart < purchase (stronger intent weighs more)")

    def as_dict(self) -> dict[str, float]:
        return {"view": self.view, "click": self.click, "add_to_cart": self.add_to_cart,
                "purchase": self.purchase}


@dataclass(frozen=True)
class SimilarityConfig:
    """Settings of the similarity stage (item_similarity, category rollups, evaluation)."""

    # Weight of one event by type (other types are ignored). Must order view < add_to_cart
    # < purchase: stronger intent counts more.
    event_weights: EventWeights = field(default_factory=EventWeights)
    # Time decay: an event half_life_days old counts half. None = no decay.
    half_life_days: float | None = 30.0
    # Events older than this (before run_date) are not read.
    lookback_days: int = 90
    measure: Measure = "cosine"
    top_k: int = 20
    # Co-occurrence contexts: user histories, sessions (also anonymous ones), or both.
    contexts: Literal["user", "session", "both"] = "both"
    # Session co-occurrences count this much relative to user co-occurrences (contexts=both).
    session_weight: float = 0.5
    # Per-context history caps applied BEFORE the self-join (strongest affinity first).
    max_history_per_user: int = 50
    max_history_per_session: int = 30
    # Pairs seen in fewer contexts than this are dropped.
    min_support: int = 2
    # Skew: items present in more contexts than this are down-sampled (deterministic hash,
    # Horvitz-Thompson re-weighted). None = never.
    max_contexts_per_item: int | None = 100_000
    # DIMSUM-style sampling for very large catalogs: pairs whose cosine is above this threshold
    # keep their estimate with high probability. None = exact.
    dimsum_threshold: float | None = None
    # The measures competing for the published lists (with the popularity baselines; the
    # ranking section's windows judge them). `measure` is the one the category rollup and the
    # co-occurrence components of the item and category blends use.
    candidate_measures: tuple[Measure, ...] = ("cosine", "jaccard", "lift")
    # Published when no window can choose (too little history).
    fallback: Literal["category_popularity", "popularity", "cooccurrence_cosine",
                      "cooccurrence_jaccard", "cooccurrence_lift"] = "category_popularity"
    # category_affinity keeps this many similar categories per category.
    category_top_k: int = 10

    def __post_init__(self) -> None:
        if self.half_life_days is not None and self.half_life_days <= 0:
            raise ValueError("half_life_days: must be > 0 (or null for no decay)")
        if self.lookback_days < 1:
            raise ValueError("lookback_days: must be >= 1")
        for name in ("top_k", "max_history_per_user", "max_history_per_session", "min_support",
                     "category_top_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1")
        if not self.candidate_measures:
            raise ValueError("candidate_measures: give at least one measure")
        if self.max_history_per_user < 2 or self.max_history_per_session < 2:
            raise ValueError("max_history_per_user/max_history_per_session: need >= 2 for pairs")
        if self.session_weight <= 0:
            raise ValueError("session_weight: must be > 0")
        if self.max_contexts_per_item is not None and self.max_contexts_per_item < 1:
            raise ValueError("max_contexts_per_item: must be >= 1 (or null)")
        if self.dimsum_threshold is not None and not 0 < self.dimsum_threshold <= 1:
            raise ValueError("dimsum_threshold: must be in (0, 1] (or null)")
