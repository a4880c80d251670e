"""ResponseConfig: the `response:` section of the configuration (labels, model, scoring)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from recsys_spark.domain.events import RESPONSE_EVENT_TYPES


@dataclass(frozen=True)
class ResponseConfig:
    """How the response model is labelled, trained, calibrated and used for scoring."""

    # Which events count as a response to an impression (any subset of RESPONSE_EVENT_TYPES).
    label_events: tuple[str, ...] = ("promo_click", "promo_redeem")
    # A response counts for the latest earlier impression of the same (user, promotion) if it
    # comes at most this many hours after it. Impressions younger than this at the end of the
    # run date are left out of training (their label is not known yet: delayed feedback).
    attribution_window_hours: int = 24
    # Impressions from the last `training_days` days (up to the run date) are training rows.
    training_days: int = 28
    # Point-in-time features look back this many days before the run date.
    feature_lookback_days: int = 90
    # Chronological split: the last `test_days` labelled days measure the model, the
    # `validation_days` before them choose the grid point and fit the calibration, the rest trains.
    validation_days: int = 3
    test_days: int = 1
    # Elastic-net grid (every combination is fitted; the best validation AUC-ROC wins).
    reg_params: tuple[float, ...] = (0.01, 0.1)
    elastic_net_params: tuple[float, ...] = (0.0, 0.5)
    max_iter: int = 50
    # Weight positives and negatives so both classes carry half of the training weight.
    class_balance: bool = True
    calibration: Literal["platt", "isotonic"] = "platt"
    reliability_bins: int = 10
    # Training needs at least this many labelled rows and positives in each split.
    min_rows_per_split: int = 30
    min_positives_per_split: int = 3
    # An optional per-run input table (user_features, user_segments, als_category_affinity,
    # item_similarity) is
    # used only if at least this share of training rows finds a point-in-time snapshot in it;
    # otherwise training and scoring would see differently distributed values.
    min_optional_coverage: float = 0.5
    # Similarity affinity (sim_affinity, from item_similarity): the user's recent items are the
    # distinct items of their last N item interactions before the impression; this is N.
    similarity_recent_events: int = 20
    # Scoring: the position every scored pair is assumed to be shown at (position is a bias
    # feature in training only).
    scoring_position: int = 1
    # "eligible_categories": a promotion with eligible categories is scored only for users who
    # have shown interest in one of them; "none": every user is scored for every promotion.
    targeting: Literal["none", "eligible_categories"] = "eligible_categories"
    excluded_user_ids: tuple[str, ...] = ()
    excluded_segments: tuple[str, ...] = ()
    # Also write the labelled, featurised impressions to `response_training_set`.
    write_training_set: bool = False

    def __post_init__(self) -> None:
        if not self.label_events:
            raise ValueError("label_events: name at least one of " + ", ".join(RESPONSE_EVENT_TYPES))
        unknown = [e for e in self.label_events if e not in RESPONSE_EVENT_TYPES]
        if unknown:
            raise ValueError(f"label_events: unknown event types {unknown}; allowed: "
                             + ", ".join(RESPONSE_EVENT_TYPES))
        if self.attribution_window_hours < 1:
            raise ValueError("attribution_window_hours: must be >= 1")
        if self.training_days < 1:
            raise ValueError("training_days: must be >= 1")
        if self.feature_lookback_days < self.training_days:
            raise ValueError("feature_lookback_days: must be >= training_days")
        if self.validation_days < 1:
            raise ValueError("validation_days: must be >= 1")
        if self.test_days < 0:
            raise ValueError("test_days: must be >= 0")
        if self.validation_days + self.test_days >= self.training_days:
            raise ValueError("validation_days: validation_days + test_days must leave training days "
                             f"out of training_days={self.training_days}")
        if not self.reg_params or any(r < 0 for r in self.reg_params):
            raise ValueError("reg_params: give at least one value, each >= 0")
        if not self.elastic_net_params or any(not 0 <= a <= 1 for a in self.elastic_net_params):
            raise ValueError("elastic_net_params: give at least one value, each in [0, 1]")
        if self.max_iter < 1:
            raise ValueError("max_iter: must be >= 1")
        if self.reliability_bins < 2:
            raise ValueError("reliability_bins: must be >= 2")
        if self.min_rows_per_split < 1 or self.min_positives_per_split < 1:
            raise ValueError("min_rows_per_split: min_rows_per_split and min_positives_per_split "
                             "must be >= 1")
        if not 0 <= self.min_optional_coverage <= 1:
            raise ValueError("min_optional_coverage: must be in [0, 1]")
        if self.similarity_recent_events < 1:
            raise ValueError("similarity_recent_events: must be >= 1")
        if self.scoring_position < 1:
            raise ValueError("scoring_position: must be >= 1")
