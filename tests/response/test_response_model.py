"""The model pipeline: both calibrations, persistence round trip, monotone calibration."""
from __future__ import annotations

import numpy as np
import pytest
from chispa import assert_approx_df_equality
from pyspark.sql import functions as F

from recsys_spark.errors import SchemaMismatchError
from recsys_spark.response.feature_set import FeatureSpec
from recsys_spark.response.model import EPS, ResponseModel, fit
from recsys_spark.response.training_features import BASE_NUMERIC
from recsys_spark.settings.response import ResponseConfig

pytestmark = pytest.mark.unit


def _frame(spark, n: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(BASE_NUMERIC)))
    p = 1 / (1 + np.exp(-(-1.0 + 1.5 * x[:, 1] - 1.0 * x[:, 6])))
    label = (rng.random(n) < p).astype(float)
    types = rng.choice(["percent_off", "coupon", "gift"], size=n)
    rows = [(f"r{i}", "pA", str(types[i]), float(label[i]), *map(float, x[i])) for i in range(n)]
    return spark.createDataFrame(rows, ["probe_id", "promotion_id", "promo_type", "label",
                                        *BASE_NUMERIC])


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_fit_calibrate_save_load(spark, tmp_path, method):
    train_df, valid_df = _frame(spark, 300, 1).cache(), _frame(spark, 200, 2).cache()
    cfg = ResponseConfig(reg_params=(0.01,), elastic_net_params=(0.0,), calibration=method,
                         max_iter=20)
    positives = int(train_df.agg({"label": "sum"}).first()[0])
    model, grid = fit(train_df, valid_df, FeatureSpec(), cfg, positives, 300)
    assert len(grid) == 1 and grid[0].validation_auc > 0.7
    assert model.method == method

    predicted_df = model.predict(valid_df).select("probe_id", "raw_p", "p_response")
    rows = sorted(predicted_df.collect(), key=lambda r: r["raw_p"])
    calibrated = [r["p_response"] for r in rows]
    # calibration is a non-decreasing map of the raw score, inside [EPS, 1 - EPS]
    assert all(b >= a - 1e-12 for a, b in zip(calibrated, calibrated[1:], strict=False))
    assert min(calibrated) >= EPS and max(calibrated) <= 1 - EPS

    path = str(tmp_path / "model")
    model.save(path)
    reloaded = ResponseModel.load(path)
    assert reloaded.method == method and reloaded.feature_spec() == FeatureSpec()
    assert reloaded.feature_ranges == model.feature_ranges and len(model.feature_ranges) == len(
        BASE_NUMERIC)
    assert_approx_df_equality(reloaded.predict(valid_df).select("probe_id", "raw_p", "p_response"),
                              predicted_df, 1e-12, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize("spec", [
    FeatureSpec(),
    FeatureSpec(user_feature_columns=("recency_days", "uplift"), use_segments=True),
    FeatureSpec(use_categories=True, use_similarity=True),
    FeatureSpec(("views",), True, True, True),
])
def test_feature_spec_round_trips_through_the_assembler_columns(spec):
    assert FeatureSpec.from_assembled_columns(spec.assembled_columns) == spec


def test_feature_spec_refuses_columns_of_another_version():
    columns = (*FeatureSpec().assembled_columns, "some_new_feature")
    # A user-facing error (one line, exit 2 from the CLI), not a traceback.
    with pytest.raises(SchemaMismatchError, match="not those of this version's feature set; retrain it"):
        FeatureSpec.from_assembled_columns(columns)


def test_features_outside_the_training_range_score_as_its_nearest_edge(spark):
    train_df, valid_df = _frame(spark, 300, 1).cache(), _frame(spark, 200, 2).cache()
    cfg = ResponseConfig(reg_params=(0.01,), elastic_net_params=(0.0,), max_iter=20)
    model, _ = fit(train_df, valid_df, FeatureSpec(), cfg, int(train_df.agg({"label": "sum"})
                                                                .first()[0]), 300)
    feature = BASE_NUMERIC[1]   # the label depends on it, so its coefficient is far from 0
    row = train_df.agg(F.min(feature).alias("lo"), F.max(feature).alias("hi")).first()
    assert model.feature_ranges[feature] == (row["lo"], row["hi"])
    probe_df = valid_df.limit(1)

    def p_at(value: float) -> float:
        return model.predict(probe_df.withColumn(feature, F.lit(value))).first()["p_response"]

    # Beyond the edges nothing moves (a linear model would keep extrapolating); inside it does.
    assert p_at(row["hi"] + 50.0) == p_at(row["hi"]) and p_at(row["lo"] - 50.0) == p_at(row["lo"])
    assert p_at(row["hi"]) != p_at(0.5 * (row["lo"] + row["hi"]))
