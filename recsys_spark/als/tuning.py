"""`recsys als --tune`: ALS's parameters chosen on the validation window.

Every grid point is an ALS candidate fitted on the days before the validation window and
measured there, like the stage's other candidates; the best validation NDCG@k wins (the
earliest in grid order on a tie). The tuned ALS then competes with the baselines and the blend,
and its test figure is measured on the test window, which no trial saw.
"""
from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from recsys_spark.als.item_ranking import ItemAls
from recsys_spark.als.train import AlsParams
from recsys_spark.ranking.selection import RankingTask, score_window
from recsys_spark.ranking.windows import EvalWindows
from recsys_spark.settings.als import AlsConfig
from recsys_spark.settings.ranking import RankingConfig


def parameter_grid(config: AlsConfig) -> list[AlsParams]:
    """Every (rank, reg_param, alpha) of the tuning grid, in config order."""
    return [AlsParams(r, reg, a) for r, reg, a in itertools.product(
        config.tune_ranks, config.tune_reg_params, config.tune_alphas)]


def trial_name(i: int) -> str:
    return f"als_trial_{i:02d}"


def tune(task: RankingTask, als: ItemAls, grid: list[AlsParams], windows: EvalWindows,
         cfg: RankingConfig, seed: int) -> tuple[AlsParams, list[dict[str, Any]]]:
    """(the best parameters — the configured ones when the validation window cannot judge —,
    one model_metrics row per trial and metric, split validation)."""
    trials = [dataclasses.replace(als, name=trial_name(i), params=p, prefit={})
              for i, p in enumerate(grid)]
    trial_task = dataclasses.replace(task, candidates=trials, blend=())
    figures, _, why_not = score_window(trial_task, windows.validation, cfg, seed, None,
                                       fit_blend_here=False)
    if why_not:
        return als.params, []
    ndcg = f"ndcg@{cfg.k}"
    best = max(range(len(grid)), key=lambda i: (figures[trial_name(i)][ndcg], -i))
    rows = [{"model": trial_name(i), "metric": metric, "value": value, "split": "validation",
             "params": {**p.as_dict(), "window": windows.validation.label()}}
            for i, p in enumerate(grid) for metric, value in figures[trial_name(i)].items()]
    return grid[best], rows
