"""The similarity stage: events (+ items) -> item_similarity, item_category_affinity,
category_affinity, and model_metrics of a held-out-day evaluation."""
from __future__ import annotations

import logging

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from recsys_spark.features.inputs import (
    conform,
    event_date_window,
    filter_event_dates,
    read_input,
    with_run_columns,
)
from recsys_spark.runs import RunContext, StageReport
from recsys_spark.schemas.similarity import CATEGORY_AFFINITY, ITEM_CATEGORY_AFFINITY, ITEM_SIMILARITY
from recsys_spark.similarity.categories import category_affinity, item_categories, item_category_affinity
from recsys_spark.similarity.evaluate import evaluate_holdout
from recsys_spark.similarity.model import compute_similarity, release
from recsys_spark.stage_runner import write_model_metrics, write_run_partition
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
    events_df = read_input(store, "events", report, STAGE,
                           partition_filters=event_date_window(ctx.run_date, cfg.lookback_days))
    assert events_df is not None
    items_df = read_input(store, "items", report, STAGE, optional=True)
    window_df = filter_event_dates(events_df, ctx.run_date, cfg.lookback_days).persist()
    report.rows_in = window_df.count()

    seed = ctx.seed("sampling")
    result = compute_similarity(window_df, cfg, ctx.run_date, seed)
    top_df = result.top_df.persist()
    sim_df = conform(with_run_columns(top_df, ctx.run_id, ctx.run_date), ITEM_SIMILARITY)
    report.outputs["item_similarity"] = write_run_partition(store, ctx, sim_df, "item_similarity").version

    categories_df = item_categories(window_df, items_df).persist()
    item_cat_df = conform(with_run_columns(item_category_affinity(top_df, categories_df),
                                           ctx.run_id, ctx.run_date), ITEM_CATEGORY_AFFINITY)
    report.outputs["item_category_affinity"] = write_run_partition(
        store, ctx, item_cat_df, "item_category_affinity").version
    cat_df = conform(with_run_columns(
        category_affinity(result.pairs_df, result.diag_df, categories_df, cfg.measure, cfg.category_top_k),
        ctx.run_id, ctx.run_date), CATEGORY_AFFINITY)
    report.outputs["category_affinity"] = write_run_partition(store, ctx, cat_df, "category_affinity").version

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
    write_model_metrics(spark, store, ctx, metric_rows)
    for row in metric_rows:
        if row["value"] is not None:
            report.metrics[f"{row['model']}.{row['metric']}"] = float(row["value"])
    window_df.unpersist()
    return report
