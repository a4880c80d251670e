"""The similarity stage: events (+ items) -> item_similarity, item_category_affinity,
category_affinity, and model_metrics of a held-out-day evaluation."""
from __future__ import annotations

import logging

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from recsys_spark.runs import RunContext, StageReport
from recsys_spark.similarity.categories import category_affinity, item_categories, item_category_affinity
from recsys_spark.similarity.evaluate import evaluate_holdout
from recsys_spark.similarity.model import compute_similarity, release
from recsys_spark.stage_io import DateWindow, Inputs, write_metrics, write_output
from recsys_spark.tables import TableStore

log = logging.getLogger(__name__)

STAGE = "similarity"


def run_similarity(spark: SparkSession, store: TableStore, ctx: RunContext) -> StageReport:
    """Compute and write this run date's similarity tables and evaluation metrics.

    Raises:
        UnknownTableError: `events` does not exist (run clean first).
    """
    cfg = ctx.config.similarity
    report = StageReport()
    inputs = Inputs(store, ctx, report)
    window_df = inputs.required("events", DateWindow.ending(ctx.run_date, cfg.lookback_days)).persist()
    items_df = inputs.optional("items")
    report.rows_in = window_df.count()

    seed = ctx.seed("sampling")
    result = compute_similarity(window_df, cfg, ctx.run_date, seed)
    top_df = result.top_df.persist()
    write_output(store, ctx, report, "item_similarity", top_df)
    categories_df = item_categories(window_df, items_df).persist()
    write_output(store, ctx, report, "item_category_affinity",
                 item_category_affinity(top_df, categories_df))
    write_output(store, ctx, report, "category_affinity", category_affinity(
        result.pairs_df, result.diag_df, categories_df, cfg.measure, cfg.category_top_k))

    stats = top_df.agg(F.count("*").alias("rows"), F.count_distinct("item_id").alias("items")).collect()[0]
    pairs = result.pairs_df.count()
    report.rows_out = int(stats["rows"])
    report.metrics.update({"similarity_rows": float(stats["rows"]),
                           "items_with_neighbours": float(stats["items"]),
                           "pairs_after_support": float(pairs * 2)})
    release(result)
    top_df.unpersist()
    categories_df.unpersist()

    metric_rows = evaluate_holdout(window_df, cfg, ctx.run_date, seed)
    write_metrics(store, ctx, report, metric_rows)
    for row in metric_rows:
        if row["value"] is not None:
            report.metrics[f"{row['model']}.{row['metric']}"] = float(row["value"])
    window_df.unpersist()
    return report
