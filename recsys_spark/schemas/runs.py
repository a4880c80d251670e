"""Run bookkeeping and measured quality: pipeline_runs, model_metrics."""
from __future__ import annotations

from pyspark.sql.types import (
    DateType,
    DoubleType,
    LongType,
    MapType,
    StringType,
    StructType,
    TimestampType,
)

from recsys_spark.schemas.spec import TableSpec, col

PIPELINE_RUNS = StructType([
    col("run_id", StringType(), "run id: run date + config fingerprint", nullable=False),
    col("run_date", DateType(), "the business date the run processed", nullable=False),
    col("stage", StringType(), "stage name (clean, features, ...)", nullable=False),
    col("attempt", LongType(), "attempt number (epoch ms at start); versions transaction ids",
        nullable=False),
    col("status", StringType(), "succeeded | failed | skipped", nullable=False),
    col("started_at", TimestampType(), "attempt start (UTC)"),
    col("duration_s", DoubleType(), "wall seconds"),
    col("inputs", MapType(StringType(), LongType()), "table -> Delta version read"),
    col("outputs", MapType(StringType(), LongType()), "table -> Delta version written"),
    col("rows_in", LongType(), "input rows"),
    col("rows_out", LongType(), "output rows"),
    col("metrics", MapType(StringType(), DoubleType()), "stage figures (counts, rates, metrics)"),
    col("quality", MapType(StringType(), StringType()), "data-quality check -> pass / fail: why"),
    col("notes", MapType(StringType(), StringType()), "free-form details"),
    col("error", StringType(), "error message when status = failed"),
    col("config_fingerprint", StringType(), "hash of the settings used"),
])

MODEL_METRICS = StructType([
    col("run_id", StringType(), "run that measured it", nullable=False),
    col("run_date", DateType(), "run date", nullable=False),
    col("stage", StringType(), "stage that measured it", nullable=False),
    col("model", StringType(), "model or method (als, similarity_cosine, popularity, ...)",
        nullable=False),
    col("metric", StringType(), "metric name (ndcg@10, auc_roc, ...)", nullable=False),
    col("value", DoubleType(), "metric value"),
    col("split", StringType(), "evaluation split (validation, holdout_day, ...)"),
    col("params", MapType(StringType(), StringType()), "hyperparameters of this trial"),
])

TABLES = {
    "pipeline_runs": TableSpec(
        "pipeline_runs", PIPELINE_RUNS,
        "One row per stage attempt: inputs read at which versions, outputs written, counts, "
        "data-quality results, metrics, duration, status. Append-only.",
        partition_by=("run_date",), keys=("run_id", "stage", "attempt"), written_by="every stage",
        write_mode="append",
        example_queries={"Data-quality trend": (
            "SELECT run_date, stage, status, metrics['quarantined'] AS quarantined\n"
            "FROM pipeline_runs WHERE stage = 'clean' ORDER BY run_date")}),
    "model_metrics": TableSpec(
        "model_metrics", MODEL_METRICS,
        "Measured model quality per run: one row per (stage, model, metric, split).",
        partition_by=("run_date", "stage"), keys=("run_id", "stage", "model", "metric", "split"),
        written_by="similarity, als, response, evaluate",
        example_queries={"ALS against baselines": (
            "SELECT model, metric, value FROM model_metrics\n"
            "WHERE stage = 'als' AND metric LIKE 'ndcg%' ORDER BY run_date DESC, model")}),
}
