"""The learned blend: a logistic regression over the component candidates' lists.

Each component (own history, a collaborative model, co-occurrence, segment and global
popularity, ...) gives its top ``blend_pool`` keys per user. For every (user, key) in the union
of those lists the features are, per component c:
    rr_<c> = 1 / rank of the key in c's list (0 when absent),
    ns_<c> = c's score / the largest |score| in the user's list of c (0 when absent),
scale-free, so weights fitted on one cut apply to the lists of a later cut. The label is 1 when
the key is relevant to the user in the validation window. The blend ranks by the fitted margin.

Honesty: the weights are fitted on the validation window, so the blend's own validation figure
is cross-fitted — users are split in two halves by a hash; each half is scored by weights fitted
on the other — and the test window, which no weight saw, reports it. The published weights are
fitted on the whole validation window.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pyspark.ml.classification import LogisticRegression, LogisticRegressionModel
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from recsys_spark.ranking.candidate import USER

log = logging.getLogger(__name__)

BLEND = "blend"


def feature_names(components: Sequence[str]) -> list[str]:
    return [f"{kind}_{c}" for c in components for kind in ("rr", "ns")]


def blend_features(lists: Mapping[str, DataFrame], key: str) -> DataFrame:
    """[user_id, <key>, rr_<c>, ns_<c> ...] over the union of the components' lists."""
    names = list(lists)
    parts = []
    for name, list_df in lists.items():
        order = Window.partitionBy(USER).orderBy(F.desc("score"), F.asc(key))
        top = F.max(F.abs("score")).over(Window.partitionBy(USER))
        ranked_df = (list_df.withColumn("_rank", F.row_number().over(order))
                     .withColumn("_ns", F.coalesce(F.try_divide(F.col("score"), top), F.lit(0.0))))
        parts.append(ranked_df.select(
            USER, key, *[(1.0 / F.col("_rank") if c == name else F.lit(0.0)).alias(f"rr_{c}")
                         for c in names],
            *[(F.col("_ns") if c == name else F.lit(0.0)).alias(f"ns_{c}") for c in names]))
    union_df = parts[0]
    for part in parts[1:]:
        union_df = union_df.unionByName(part)
    columns = feature_names(names)
    # each component contributes one row per (user, key) and zeros for the others: sum them
    return (union_df.groupBy(USER, key).agg(*[F.sum(c).cast("double").alias(c) for c in columns])
            .select(USER, key, *columns))


def with_labels(features_df: DataFrame, truth_df: DataFrame, key: str) -> DataFrame:
    """``features_df`` plus ``label`` (1.0 when the key is in the user's truth)."""
    positives_df = truth_df.select(USER, key).distinct().withColumn("label", F.lit(1.0))
    return (features_df.join(positives_df, on=[USER, key], how="left")
            .fillna(0.0, subset=["label"]))


def _fold(seed: int) -> F.Column:
    return F.pmod(F.xxhash64(F.lit(seed), F.col(USER)), F.lit(2))


@dataclass(frozen=True)
class BlendModel:
    """Fitted weights over the components' features."""

    components: tuple[str, ...]
    model: LogisticRegressionModel

    def weights(self) -> dict[str, str]:
        names = feature_names(self.components)
        coefficients = self.model.coefficients.toArray()
        out = {f"w_{n}": f"{v:.4f}" for n, v in zip(names, coefficients, strict=True)}
        out["intercept"] = f"{self.model.intercept:.4f}"
        return out

    def score(self, features_df: DataFrame, key: str) -> DataFrame:
        """[user_id, <key>, score] with score = the fitted margin."""
        return (_assembler(self.components).transform(features_df)
                .transform(self.model.transform)
                .select(USER, key, vector_to_array("rawPrediction")[1].alias("score")))


def _assembler(components: Sequence[str]) -> VectorAssembler:
    return VectorAssembler(inputCols=feature_names(components), outputCol="features")


def fit_blend(labelled_df: DataFrame, components: Sequence[str], reg_param: float, max_iter: int
              ) -> BlendModel | None:
    """Weights fitted on ``labelled_df`` (features + label); None when it lacks a class."""
    counts = labelled_df.agg(F.count(F.lit(1)).alias("n"), F.sum("label").alias("pos")).first()
    assert counts is not None
    positives, rows = int(counts["pos"] or 0), int(counts["n"])
    if positives == 0 or positives == rows:
        return None
    estimator = LogisticRegression(featuresCol="features", labelCol="label", regParam=reg_param,
                                   maxIter=max_iter, standardization=True, family="binomial")
    model = estimator.fit(_assembler(components).transform(labelled_df))
    return BlendModel(tuple(components), model)


def cross_fitted_scores(labelled_df: DataFrame, components: Sequence[str], reg_param: float,
                        max_iter: int, seed: int, key: str) -> DataFrame | None:
    """[user_id, <key>, score] where each user's rows are scored by weights fitted on the
    other half of the users; None when a half cannot be fitted (one class only)."""
    folded_df = labelled_df.withColumn("_fold", _fold(seed))
    scored = []
    for fold in (0, 1):
        model = fit_blend(folded_df.filter(F.col("_fold") != fold), components, reg_param, max_iter)
        if model is None:
            return None
        scored.append(model.score(folded_df.filter(F.col("_fold") == fold), key))
    return scored[0].unionByName(scored[1])
