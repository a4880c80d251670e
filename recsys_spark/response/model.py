"""The response model: a Spark ML logistic-regression pipeline plus a calibrator.

Pipeline: StringIndexer + OneHotEncoder for the categorical features, VectorAssembler,
StandardScaler, LogisticRegression (elastic net, class-balance weight column). A small grid of
(regParam, elasticNetParam) is fitted on the training split and the best validation AUC-ROC
wins. The winner's scores are then calibrated on the validation split: Platt (a 1-D logistic
regression on the model's logit) or isotonic regression on its probability. Both parts are
Spark ML PipelineModels saved with ``save()`` (no pickle).

Numeric features are clamped to the range seen in training before every prediction. A linear
model extrapolates without limit, and scoring meets values training never had: a promotion
launched yesterday has days_since_start 0 while every training impression may come from
promotions that had been running for weeks (observed: a new promotion scored 6x below its
older, shallower twin). Clamped, it is treated like the youngest promotion the model knows.
"""
from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from pyspark.errors import AnalysisException
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.feature import OneHotEncoder, StandardScaler, StringIndexer, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.ml.regression import IsotonicRegression, IsotonicRegressionModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys_spark.domain.models import RESPONSE_MODEL
from recsys_spark.response.feature_set import FeatureSpec
from recsys_spark.settings.response import ResponseConfig

log = logging.getLogger(__name__)

# Calibrated probabilities are kept inside [EPS, 1 - EPS]: isotonic steps can reach exactly 0 or
# 1, which would make the log loss infinite and a Beta prior degenerate for the bandit.
EPS = 1e-4
_INTERNAL = ("raw_margin", "raw_p", "cal_features", "cal_raw", "cal_probability",
             "cal_prediction", "features_raw", "features", "rawPrediction", "probability",
             "prediction")


def with_class_weights(df: DataFrame, positives: int, total: int, balance: bool) -> DataFrame:
    """Add ``weight``: both classes carry half the total weight when ``balance``, else 1.0."""
    if not balance or positives in (0, total):
        return df.withColumn("weight", F.lit(1.0))
    w_pos = total / (2.0 * positives)
    w_neg = total / (2.0 * (total - positives))
    return df.withColumn("weight", F.when(F.col("label") == 1, w_pos).otherwise(w_neg))


def build_pipeline(spec: FeatureSpec, reg_param: float, elastic_net: float, max_iter: int) -> Pipeline:
    """The unfitted feature + logistic-regression pipeline for ``spec``."""
    cats = list(spec.categorical)
    stages: list = [StringIndexer(inputCol=c, outputCol=f"{c}_idx", handleInvalid="keep",
                                  stringOrderType="alphabetAsc") for c in cats]
    if cats:
        stages.append(OneHotEncoder(inputCols=[f"{c}_idx" for c in cats],
                                    outputCols=[f"{c}_vec" for c in cats], handleInvalid="keep"))
    stages += [
        VectorAssembler(inputCols=list(spec.assembled_columns), outputCol="features_raw"),
        # Scaling makes one regParam mean the same for every feature; no centring keeps the
        # one-hot vectors sparse (the intercept absorbs the offset).
        StandardScaler(inputCol="features_raw", outputCol="features", withStd=True, withMean=False),
        LogisticRegression(featuresCol="features", labelCol="label", weightCol="weight",
                           regParam=reg_param, elasticNetParam=elastic_net, maxIter=max_iter,
                           standardization=False, family="binomial"),
    ]
    return Pipeline(stages=stages)


def with_raw_scores(pipeline_model: PipelineModel, df: DataFrame) -> DataFrame:
    """``df`` plus raw_margin (the logit) and raw_p (uncalibrated probability)."""
    scored_df = pipeline_model.transform(df)
    return (scored_df.withColumn("raw_margin", vector_to_array("rawPrediction")[1])
            .withColumn("raw_p", vector_to_array("probability")[1]))


def _calibrator(method: str) -> Pipeline:
    if method == "platt":
        return Pipeline(stages=[
            VectorAssembler(inputCols=["raw_margin"], outputCol="cal_features"),
            LogisticRegression(featuresCol="cal_features", labelCol="label", regParam=0.0,
                               rawPredictionCol="cal_raw", probabilityCol="cal_probability",
                               predictionCol="cal_prediction", family="binomial")])
    return Pipeline(stages=[
        VectorAssembler(inputCols=["raw_p"], outputCol="cal_features"),
        IsotonicRegression(featuresCol="cal_features", labelCol="label",
                           predictionCol="cal_prediction")])


@dataclass
class ResponseModel:
    """A fitted pipeline and its calibrator. ``predict`` adds ``p_response``."""

    pipeline: PipelineModel
    calibrator: PipelineModel
    params: dict[str, float] = field(default_factory=dict)
    # numeric feature -> (min, max) over the training rows; predict() clamps to it
    feature_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def method(self) -> str:
        last = self.calibrator.stages[-1]
        return "isotonic" if isinstance(last, IsotonicRegressionModel) else "platt"

    def predict(self, df: DataFrame) -> DataFrame:
        """``df`` plus raw_p and p_response (calibrated, within [EPS, 1 - EPS]); its numeric
        features come back clamped to the training range, as the model saw them."""
        clamped_df = clamp_features(df, self.feature_ranges)
        cal_df = self.calibrator.transform(with_raw_scores(self.pipeline, clamped_df))
        p = (vector_to_array("cal_probability")[1] if self.method == "platt"
             else F.col("cal_prediction"))
        out_df = cal_df.withColumn("p_response", F.least(F.greatest(p, F.lit(EPS)), F.lit(1 - EPS)))
        return out_df.drop(*[c for c in _INTERNAL if c != "raw_p"],
                           *[c for c in out_df.columns if c.endswith(("_idx", "_vec"))])

    def feature_spec(self) -> FeatureSpec:
        """The FeatureSpec the model was trained with (read from its assembler's inputs)."""
        assembler = next(s for s in self.pipeline.stages if isinstance(s, VectorAssembler))
        return FeatureSpec.from_assembled_columns(assembler.getInputCols())

    def save(self, path: str) -> None:
        """Spark ML persistence under ``path``/pipeline and ``path``/calibrator, the feature
        ranges as Parquet under ``path``/feature_ranges (overwriting; any Hadoop URI)."""
        self.pipeline.write().overwrite().save(f"{path}/pipeline")
        self.calibrator.write().overwrite().save(f"{path}/calibrator")
        spark = SparkSession.getActiveSession()
        assert spark is not None, "ResponseModel.save needs an active SparkSession"
        rows = [(name, lo, hi) for name, (lo, hi) in sorted(self.feature_ranges.items())]
        (spark.createDataFrame(rows, "feature string, lo double, hi double").coalesce(1)
         .write.mode("overwrite").parquet(f"{path}/feature_ranges"))

    @classmethod
    def load(cls, path: str) -> ResponseModel:
        spark = SparkSession.getActiveSession()
        assert spark is not None, "ResponseModel.load needs an active SparkSession"
        try:
            ranges = {r["feature"]: (r["lo"], r["hi"])
                      for r in spark.read.parquet(f"{path}/feature_ranges").collect()}
        except AnalysisException:  # saved before the ranges existed: predicts unclamped
            log.warning("response model %s has no feature_ranges; features are not clamped", path)
            ranges = {}
        return cls(PipelineModel.load(f"{path}/pipeline"), PipelineModel.load(f"{path}/calibrator"),
                   feature_ranges=ranges)


def training_ranges(train_df: DataFrame, columns: Sequence[str]) -> dict[str, tuple[float, float]]:
    """(min, max) of each column over ``train_df``, in one aggregation; all-null columns are left
    out (nothing to clamp to)."""
    row = train_df.agg(*[F.min(c).cast("double").alias(f"lo{i}") for i, c in enumerate(columns)],
                       *[F.max(c).cast("double").alias(f"hi{i}") for i, c in enumerate(columns)]
                       ).first()
    assert row is not None  # a global aggregation always returns one row
    return {c: (row[f"lo{i}"], row[f"hi{i}"]) for i, c in enumerate(columns)
            if row[f"lo{i}"] is not None}


def clamp_features(df: DataFrame, ranges: dict[str, tuple[float, float]]) -> DataFrame:
    """``df`` with each ranged column clamped into [min, max] (nulls stay null)."""
    return df.withColumns({
        c: F.when(F.col(c).isNull(), F.col(c)).otherwise(
            F.least(F.greatest(F.col(c).cast("double"), F.lit(lo)), F.lit(hi)))
        for c, (lo, hi) in ranges.items() if c in df.columns})


@dataclass(frozen=True)
class GridPoint:
    reg_param: float
    elastic_net: float
    validation_auc: float


def fit(train_df: DataFrame, valid_df: DataFrame, spec: FeatureSpec, cfg: ResponseConfig,
        train_positives: int, train_rows: int) -> tuple[ResponseModel, list[GridPoint]]:
    """Fit every grid point on ``train_df``, keep the best validation AUC-ROC, calibrate on
    ``valid_df``. Both frames need ``label`` (double) and the spec's feature columns.

    Returns:
        The calibrated model and every grid point's validation AUC (in grid order).
    """
    weighted_df = with_class_weights(train_df, train_positives, train_rows, cfg.class_balance)
    ranges = training_ranges(train_df, spec.numeric)
    valid_df = clamp_features(valid_df, ranges)  # validated and calibrated as it will score
    evaluator = BinaryClassificationEvaluator(rawPredictionCol="raw_p", labelCol="label",
                                              metricName="areaUnderROC")
    grid: list[GridPoint] = []
    best: tuple[float, PipelineModel] | None = None
    for reg, alpha in itertools.product(cfg.reg_params, cfg.elastic_net_params):
        pipeline_model = build_pipeline(spec, reg, alpha, cfg.max_iter).fit(weighted_df)
        auc = float(evaluator.evaluate(with_raw_scores(pipeline_model, valid_df)))
        grid.append(GridPoint(reg, alpha, auc))
        log.info("response grid regParam=%s elasticNetParam=%s: validation AUC %.4f", reg, alpha, auc)
        # Ties keep the earlier (more regularised first in config order) point: deterministic.
        if best is None or auc > best[0]:
            best = (auc, pipeline_model)
    assert best is not None  # the config guarantees a non-empty grid
    chosen = max(grid, key=lambda g: g.validation_auc)
    calibrator = _calibrator(cfg.calibration).fit(with_raw_scores(best[1], valid_df))
    params = {"regParam": chosen.reg_param, "elasticNetParam": chosen.elastic_net}
    return ResponseModel(best[1], calibrator, params, ranges), grid


def grid_rows(grid: Sequence[GridPoint]) -> list[dict]:
    """model_metrics rows for the grid search (one per point)."""
    return [{"model": RESPONSE_MODEL, "metric": "grid_auc_roc", "value": g.validation_auc,
             "split": "validation",
             "params": {"regParam": g.reg_param, "elasticNetParam": g.elastic_net}} for g in grid]
