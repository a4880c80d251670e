"""Quality of probability scores: ranking (AUC-ROC, AUC-PR), log loss, Brier score and
calibration (reliability bins, expected calibration error), for the model and two baselines."""
from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

LOG_LOSS_EPS = 1e-15


@dataclass(frozen=True)
class ReliabilityBin:
    index: int
    lower: float
    upper: float
    count: int
    mean_predicted: float
    observed_rate: float


@dataclass(frozen=True)
class BinaryMetrics:
    """Scores of one model on one split."""

    rows: int
    positives: int
    auc_roc: float
    auc_pr: float
    log_loss: float
    brier: float
    ece: float
    bins: tuple[ReliabilityBin, ...] = field(default_factory=tuple)

    def as_rows(self, model: str, split: str) -> list[dict]:
        """model_metrics rows: one per figure, one per non-empty reliability bin."""
        rows = [{"model": model, "metric": name, "value": value, "split": split}
                for name, value in (("auc_roc", self.auc_roc), ("auc_pr", self.auc_pr),
                                    ("log_loss", self.log_loss), ("brier", self.brier),
                                    ("ece", self.ece), ("rows", self.rows),
                                    ("positives", self.positives))]
        rows += [{"model": model, "metric": f"reliability_bin_{b.index:02d}",
                  "value": b.observed_rate, "split": split,
                  "params": {"lower": b.lower, "upper": b.upper, "count": b.count,
                             "mean_predicted": b.mean_predicted}} for b in self.bins]
        return rows


def reliability(df: DataFrame, bins: int, label_col: str = "label", p_col: str = "p"
                ) -> tuple[tuple[ReliabilityBin, ...], float]:
    """Equal-width bins of the predicted probability and the expected calibration error
    ECE = sum_b (n_b / n) * |observed_b - mean_predicted_b|. Only the ``bins`` aggregate rows
    come back to the driver."""
    b = F.least(F.floor(F.col(p_col) * bins).cast("int"), F.lit(bins - 1))
    rows = (df.groupBy(b.alias("bin"))
            .agg(F.count(F.lit(1)).alias("n"), F.avg(p_col).alias("mean_p"),
                 F.avg(F.col(label_col).cast("double")).alias("rate"))
            .orderBy("bin").collect())
    total = sum(r["n"] for r in rows)
    out = tuple(ReliabilityBin(r["bin"], r["bin"] / bins, (r["bin"] + 1) / bins, int(r["n"]),
                               float(r["mean_p"]), float(r["rate"])) for r in rows)
    ece = sum(x.count / total * abs(x.observed_rate - x.mean_predicted) for x in out) if total else 0.0
    return out, float(ece)


def binary_metrics(df: DataFrame, bins: int = 10, label_col: str = "label",
                   p_col: str = "p") -> BinaryMetrics:
    """All figures for probabilities ``p_col`` against 0/1 labels ``label_col``.

    AUCs come from BinaryClassificationEvaluator (0.5 for a constant score); log loss clips p
    to [1e-15, 1 - 1e-15].
    """
    scored_df = df.select(F.col(label_col).cast("double").alias("label"),
                          F.col(p_col).cast("double").alias("p"))
    p = F.least(F.greatest(F.col("p"), F.lit(LOG_LOSS_EPS)), F.lit(1 - LOG_LOSS_EPS))
    y = F.col("label")
    agg = scored_df.agg(
        F.count(F.lit(1)).alias("n"), F.sum("label").alias("pos"),
        F.avg(-(y * F.log(p) + (1 - y) * F.log(1 - p))).alias("log_loss"),
        F.avg((F.col("p") - y) ** 2).alias("brier")).first()
    evaluator = BinaryClassificationEvaluator(rawPredictionCol="p", labelCol="label")
    auc_roc = float(evaluator.setMetricName("areaUnderROC").evaluate(scored_df))
    auc_pr = float(evaluator.setMetricName("areaUnderPR").evaluate(scored_df))
    bin_rows, ece = reliability(scored_df, bins)
    return BinaryMetrics(int(agg["n"]), int(agg["pos"] or 0), auc_roc, auc_pr,
                         float(agg["log_loss"]), float(agg["brier"]), ece, bin_rows)


def with_baselines(eval_df: DataFrame, train_df: DataFrame, smoothing: float = 1.0) -> DataFrame:
    """``eval_df`` plus p_global (the training response rate) and p_promotion (each
    promotion's training rate, shrunk toward the global rate by ``smoothing`` pseudo-impressions;
    the global rate for promotions unseen in training)."""
    global_rate = float(train_df.agg(F.avg(F.col("label").cast("double"))).first()[0])
    rates_df = (train_df.groupBy("promotion_id")
                .agg(((F.sum("label") + F.lit(smoothing * global_rate))
                      / (F.count(F.lit(1)) + F.lit(smoothing))).alias("p_promotion")))
    return (eval_df.join(F.broadcast(rates_df), on="promotion_id", how="left")
            .withColumn("p_promotion", F.coalesce("p_promotion", F.lit(global_rate)))
            .withColumn("p_global", F.lit(global_rate)))
