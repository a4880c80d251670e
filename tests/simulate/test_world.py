"""The driver-side world: hidden promotion appeal, the launch window and budgets (no Spark)."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from recsys_spark.settings.simulate import SimulatorConfig
from recsys_spark.simulate.world import (
    build_world,
    item_probabilities,
    response_probabilities,
    user_params,
)

pytestmark = pytest.mark.unit

SEED = 20261123
START = dt.date(2026, 11, 1)


def world(**overrides):
    return build_world(SimulatorConfig.from_preset("tiny", n_promotions=10, **overrides), SEED, START)


def true_logits(w) -> np.ndarray:
    params = user_params(w, np.arange(50))
    p_redeem, _ = response_probabilities(w, params, item_probabilities(w, params.taste))
    return np.log(p_redeem / (1.0 - p_redeem))


def test_default_world_has_no_appeal_and_the_historic_launch_window():
    w = world()
    assert (w.promos["appeal"] == 0.0).all()
    later = w.promos.iloc[5:]   # tiny: promo_slots 3 -> the first max(4, 10 // 2) = 5 are always on
    assert later["start_day"].between(-10, 9).all()


def test_appeal_shifts_each_promotions_true_logit_by_its_own_offset():
    plain, appealing = world(), world(promo_appeal_sd=1.0)
    appeal = appealing.promos["appeal"].to_numpy()
    # Everything else about the world is unchanged, so the logits differ by exactly the appeal.
    assert plain.promos.drop(columns="appeal").equals(appealing.promos.drop(columns="appeal"))
    np.testing.assert_allclose(true_logits(appealing) - true_logits(plain),
                               np.broadcast_to(appeal, (50, 10)), atol=1e-9)
    assert np.std(appeal) > 0.3 and len(set(np.round(appeal, 9))) == 10
    # The offset scales with the setting (the same standard normal per promotion).
    np.testing.assert_allclose(world(promo_appeal_sd=0.5).promos["appeal"], appeal / 2)


def test_launch_window_places_every_non_permanent_promotion_inside_it():
    w = world(launch_start_day=7, launch_span_days=3)
    permanent, launched = w.promos.iloc[:5], w.promos.iloc[5:]
    assert (permanent["start_day"] < 0).all()
    assert launched["start_day"].between(7, 9).all()
    assert (launched["end_day"] - launched["start_day"]).between(3, 14).all()
    assert launched["start_date"].tolist() == [(START + dt.timedelta(days=int(d))).isoformat()
                                               for d in launched["start_day"]]


def test_budget_scale_multiplies_every_budget_and_changes_nothing_else():
    plain, generous = world(), world(promo_budget_scale=7.5)
    # tiny has 400 users, so every budget is the floor of 100 redemptions
    assert plain.promos["budget"].tolist() == [100] * 10
    assert generous.promos["budget"].tolist() == [750] * 10
    others = [c for c in plain.promos.columns if c != "budget"]
    assert generous.promos[others].equals(plain.promos[others])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"promo_appeal_sd": -0.1}, "promo_appeal_sd: must be >= 0"),
    ({"launch_span_days": 0}, "launch_span_days: must be >= 1"),
    ({"promo_budget_scale": 0.0}, "promo_budget_scale: must be > 0"),
])
def test_bad_knobs_name_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SimulatorConfig.from_preset("tiny", **kwargs)
