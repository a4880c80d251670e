"""FeaturesConfig: the `features:` section of the YAML config."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class FeaturesConfig:
    """Settings of the features stage (user_features, user_segments, item_stats)."""

    # RFM / popularity windows in days, ending at run_date inclusive. The longest one is the
    # lookback: older events are not read, and its figures are the headline columns.
    windows_days: tuple[int, ...] = (7, 30, 90)
    # A user with fewer events than this in the lookback is "without history": cold_start segment.
    min_events: int = 1
    # KMeans on standardized features; k from here (fewer when there are fewer users).
    k: int = 6
    kmeans_max_iter: int = 30
    # True: the KMeans seed is derived from run.seed + run_date (ids stay stable anyway because
    # centroids are matched to the previous run's); False: from run.seed only.
    seed_per_run_date: bool = True
    # How many top-level categories top_categories keeps.
    top_categories: int = 3
    # Pseudo-impressions that shrink a user's promotion rates toward the type's global rate.
    rate_prior_strength: float = 10.0
    # activity_level: low below the first threshold of active days, medium below the second.
    activity_days_thresholds: tuple[int, int] = (2, 7)
    # RFM scores: R3 if the last purchase is <= first value days old, R2 if <= second, else R1.
    rfm_recency_days: tuple[int, int] = (14, 45)
    # F3 if purchases >= second value, F2 if >= first, else F1.
    rfm_frequency: tuple[int, int] = (2, 4)
    # M3 if purchase value >= second value (EUR), M2 if >= first, else M1.
    rfm_monetary: tuple[float, float] = (50.0, 250.0)
    # user_category_affinity: the top-N categories per user, chosen as docs/rankings.md says.
    category_ranking: bool = True
    category_top_n: int = 20
    # Rank the category as recorded in events ("full", e.g. "top.sub.leaf") or its top level.
    category_level: Literal["full", "top"] = "full"
    # Published when no window can choose (too little history): a baseline candidate's name.
    category_fallback: Literal["own_history", "popularity", "segment_popularity"] = "own_history"
    # The collaborative candidate: implicit ALS on user x category history.
    category_als_rank: int = 16
    category_als_max_iter: int = 10
    category_als_reg_param: float = 0.1
    category_als_alpha: float = 10.0

    def __post_init__(self) -> None:
        if not self.windows_days or any(w < 1 for w in self.windows_days):
            raise ValueError("windows_days: give at least one window of >= 1 day")
        if len(set(self.windows_days)) != len(self.windows_days):
            raise ValueError("windows_days: windows must be distinct")
        if self.min_events < 1:
            raise ValueError("min_events: must be >= 1")
        if self.k < 1:
            raise ValueError("k: must be >= 1")
        if self.kmeans_max_iter < 1:
            raise ValueError("kmeans_max_iter: must be >= 1")
        if self.top_categories < 1:
            raise ValueError("top_categories: must be >= 1")
        if self.rate_prior_strength < 0:
            raise ValueError("rate_prior_strength: must be >= 0")
        for name in ("category_top_n", "category_als_rank", "category_als_max_iter"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1")
        if self.category_als_reg_param < 0 or self.category_als_alpha < 0:
            raise ValueError("category_als_reg_param: category_als_reg_param and "
                             "category_als_alpha must be >= 0")
        for name in ("activity_days_thresholds", "rfm_recency_days", "rfm_frequency", "rfm_monetary"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(f"{name}: need 0 < first <= second, got ({low}, {high})")

    @property
    def lookback_days(self) -> int:
        return max(self.windows_days)
