"""The response model's published figures: its metrics and its baselines' on the evaluation
split (a window the grid search and calibration did not see), plus the grid, coverage and
split sizes, as `model_metrics` rows."""
from __future__ import annotations

from typing import Any

from recsys_spark.domain.models import RESPONSE_GLOBAL_RATE, RESPONSE_MODEL, RESPONSE_PROMOTION_RATE
from recsys_spark.response.metrics import BinaryMetrics, binary_metrics, with_baselines
from recsys_spark.response.model import GridPoint, ResponseModel, grid_rows
from recsys_spark.response.train import TrainingData
from recsys_spark.settings.response import ResponseConfig

# Scored column of each published model.
SCORE_COLUMNS = {RESPONSE_MODEL: "p_response", RESPONSE_GLOBAL_RATE: "p_global",
                 RESPONSE_PROMOTION_RATE: "p_promotion"}


def evaluate(model: ResponseModel, grid: list[GridPoint], data: TrainingData, cfg: ResponseConfig
             ) -> tuple[list[dict[str, Any]], dict[str, BinaryMetrics]]:
    """(model_metrics rows, metrics per model name on the evaluation split)."""
    # Scored once, read by the three models' metrics (a dozen small jobs).
    scored_df = with_baselines(model.predict(data.split(data.eval_split)),
                               data.split("train")).cache()
    rows: list[dict[str, Any]] = list(grid_rows(grid))
    results = {}
    for name, column in SCORE_COLUMNS.items():
        results[name] = binary_metrics(scored_df, cfg.reliability_bins, p_col=column)
        rows += results[name].as_rows(name, data.eval_split)
    scored_df.unpersist()
    for table, share in data.coverage.items():
        rows.append({"model": RESPONSE_MODEL, "metric": f"coverage_{table}", "value": share,
                     "split": "train+validation+test"})
    for split, (n, positives) in sorted(data.counts.items()):
        rows.append({"model": RESPONSE_MODEL, "metric": "labelled_impressions", "value": n,
                     "split": split, "params": {"positives": positives}})
    return rows, results
