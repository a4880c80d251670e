"""Metrics on hand-computed cases; baselines; config validation; missing inputs."""
from __future__ import annotations

import datetime as dt
import math

import pytest
from chispa import assert_approx_df_equality

from recsys_spark.errors import UnknownTableError
from recsys_spark.response.metrics import binary_metrics, with_baselines
from recsys_spark.response.stage import run_response
from recsys_spark.runs import RunContext
from recsys_spark.settings.response import ResponseConfig
from recsys_spark.tables import TableStore
from tests.factories import make_config

pytestmark = pytest.mark.unit


def test_binary_metrics_by_hand(spark):
    df = spark.createDataFrame([(1, 0.9), (0, 0.2), (1, 0.6), (0, 0.7)], "label int, p double")
    m = binary_metrics(df, bins=2)
    assert (m.rows, m.positives) == (4, 2)
    # positives beat negatives in 3 of 4 pairs
    assert m.auc_roc == pytest.approx(0.75)
    # PR points (recall, precision): (0,1) (.5,1) (.5,.5) (1,2/3) (1,.5); trapezoids
    assert m.auc_pr == pytest.approx(0.5 + (0.5 + 2 / 3) / 2 * 0.5)
    assert m.log_loss == pytest.approx(-(math.log(0.9) + math.log(0.8) + math.log(0.6)
                                         + math.log(0.3)) / 4)
    assert m.brier == pytest.approx((0.01 + 0.04 + 0.16 + 0.49) / 4)
    # bin 0: p=.2, y=0; bin 1: p=.9,.6,.7, y=1,1,0 -> ECE = 1/4*.2 + 3/4*|2/3 - 22/30|
    assert [(b.index, b.count) for b in m.bins] == [(0, 1), (1, 3)]
    assert m.bins[1].mean_predicted == pytest.approx(2.2 / 3)
    assert m.bins[1].observed_rate == pytest.approx(2 / 3)
    assert m.ece == pytest.approx(0.25 * 0.2 + 0.75 * abs(2 / 3 - 2.2 / 3))


def test_baselines(spark):
    train_df = spark.createDataFrame(
        [("pA", 1), ("pA", 0), ("pA", 0), ("pA", 0), ("pB", 1), ("pB", 1)],
        "promotion_id string, label int")
    eval_df = spark.createDataFrame([("pA", "x1"), ("pB", "x2"), ("pC", "x3")],
                                    "promotion_id string, probe_id string")
    out_df = with_baselines(eval_df, train_df).select("probe_id", "p_promotion", "p_global")
    expected_df = spark.createDataFrame(
        [("x1", 1.5 / 5, 0.5), ("x2", 2.5 / 3, 0.5), ("x3", 0.5, 0.5)],
        "probe_id string, p_promotion double, p_global double")
    assert_approx_df_equality(out_df.orderBy("probe_id"), expected_df, 1e-12, ignore_nullable=True)


@pytest.mark.parametrize("kwargs, message", [
    ({"label_events": ("purchase",)}, "label_events"),
    ({"validation_days": 20, "test_days": 8}, "validation_days"),
    ({"elastic_net_params": (1.5,)}, "elastic_net_params"),
    ({"reliability_bins": 1}, "reliability_bins"),
    ({"feature_lookback_days": 7}, "feature_lookback_days"),
])
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ResponseConfig(**kwargs)


def test_missing_events_names_the_stage(spark, tmp_path):
    config = make_config(tmp_path)
    store = TableStore(spark, config.warehouse)
    with pytest.raises(UnknownTableError, match="'events'.*run `recsys clean --run-date 2026-11-20` first"):
        run_response(spark, store, RunContext(config, dt.date(2026, 11, 20), "response"))


def test_cli_rejects_bad_config_before_spark(capsys):
    from recsys_spark.cli import main
    from tests.conftest import REPO_ROOT

    code = main(["response", "--config", str(REPO_ROOT / "conf" / "local.yaml"),
                 "--run-date", "2026-11-20", "--set", "response.calibration=sigmoid"])
    assert code == 2
    assert "response.calibration: expected one of 'platt', 'isotonic'" in capsys.readouterr().err
