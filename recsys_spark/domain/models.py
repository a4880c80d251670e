"""Names of the models and baselines that `model_metrics` and the report refer to."""
from __future__ import annotations

RESPONSE_MODEL = "response_logreg"
RESPONSE_GLOBAL_RATE = "baseline_global_rate"
RESPONSE_PROMOTION_RATE = "baseline_promotion_rate"
POPULARITY = "popularity"
