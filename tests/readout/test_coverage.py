"""The readout's 95% CIs cover the true uplift of a simulated world in >= 90% of seeded trials.

Trials are drawn in numpy from the demo world's true response model (simulate/uplift_truth.py)
and read out with the production statistics (readout.measure.readout_rows), so the test costs
seconds, not a pipeline run per trial.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from recsys_spark.readout.measure import readout_rows
from recsys_spark.settings.simulate import SimulatorConfig
from recsys_spark.simulate.uplift_truth import uplift_world
from recsys_spark.simulate.world import build_world

TRIALS = 200
HOLDOUT_SHARE = 0.05      # bandit.holdout_share's default
WINDOW_DAYS = 14


def _stats(is_control: np.ndarray, redemptions: np.ndarray) -> list[dict]:
    rows = []
    for group, mask in (("control", is_control), ("treated", ~is_control)):
        red = redemptions[mask].astype(float)
        responded = (red > 0).astype(float)
        rows.append({"dimension": "all", "dim_value": "all", "group": group, "n": int(mask.sum()),
                     "response_rate_sum": responded.sum(), "response_rate_sq": responded.sum(),
                     "redemptions_per_user_sum": red.sum(), "redemptions_per_user_sq": (red * red).sum(),
                     "revenue_per_user_sum": 0.0, "revenue_per_user_sq": 0.0})
    return rows


@pytest.mark.unit
def test_the_95_percent_ci_covers_the_true_uplift_in_90_percent_of_trials():
    world = build_world(SimulatorConfig.from_preset("demo"), seed=42, start_date=dt.date(2026, 11, 1))
    trial_world = uplift_world(world, WINDOW_DAYS, first_day=7)
    truth = trial_world.true_effects()
    rng = np.random.default_rng(2026)
    covered = {metric: 0 for metric in truth}
    for _ in range(TRIALS):
        rows = readout_rows(_stats(*trial_world.draw(rng, HOLDOUT_SHARE)), HOLDOUT_SHARE, 0.95, 0.001)
        for r in rows:
            if r["metric"] in truth:
                covered[r["metric"]] += r["ci_low"] <= truth[r["metric"]] <= r["ci_high"]
    coverage = {metric: n / TRIALS for metric, n in covered.items()}
    print(f"true uplift {truth}; coverage over {TRIALS} trials {coverage}")
    assert truth["redemptions_per_user"] > 0.05      # an effect worth measuring
    assert all(c >= 0.90 for c in coverage.values()), coverage
