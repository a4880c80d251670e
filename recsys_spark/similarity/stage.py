"""The similarity stage: events (+ items) -> item_similarity (the neighbour lists that won on
the validation window: similarity/neighbour_ranking.py), item_category_affinity,
category_affinity, and model_metrics (every candidate's validation and test figures, the
choice)."""
from __future__ import annotations

import logging

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from recsys_spark.ranking.neighbours import SharedCooccurrence
from recsys_spark.ranking.selection import choose, report_figures
from recsys_spark.ranking.windows import EvalWindows
from recsys_spark.runs import RunContext, StageReport
from recsys_spark.similarity.categories import category_affinity, item_categories, item_category_affinity
from recsys_spark.similarity.neighbour_ranking import neighbour_task, published_neighbours
from recsys_spark.stage_io import DateWindow, Inputs, write_metrics, write_output
from recsys_spark.tables import TableStore

log = logging.getLogger(__name__)

STAGE = "similarity"


def run_similarity(spark: SparkSession, store: TableStore, ctx: RunContext) -> StageReport:
    """Choose, compute and write this run date's similarity tables and their metrics.

    Raises:
        UnknownTableError: `events` does not exist (run clean first).
    """
    cfg, ranking = ctx.config.similarity, ctx.config.ranking
    report = StageReport()
    inputs = Inputs(store, ctx, report)
    window_df = inputs.required("events", DateWindow.ending(ctx.run_date, cfg.lookback_days)).persist()
    items_df = inputs.optional("items")
    report.rows_in = window_df.count()
    categories_df = item_categories(window_df, items_df).persist()
    leaf_categories_df = item_categories(window_df, items_df, full=True).persist()

    seed = ctx.seed("sampling")
    shared = SharedCooccurrence(cfg, seed)
    task = neighbour_task(window_df, leaf_categories_df, shared, ctx.config)
    windows = EvalWindows.for_run(ctx.run_date, cfg.lookback_days, ranking.validation_days,
                                  ranking.test_days)
    decision = choose(task, windows, ranking, ctx.seed("choose"))

    cut = task.make_cut("publish", ctx.run_date)
    fitted = published_neighbours(task, decision.published, cut)
    top_df = fitted.neighbours_df.withColumn("method", F.lit(decision.published))
    write_output(store, ctx, report, "item_similarity", top_df)
    write_output(store, ctx, report, "item_category_affinity", item_category_affinity(top_df, categories_df))
    shared.neighbour_lists(cut, cfg.measure)   # the publish cut's co-occurrence (computed once)
    result = shared.result(cut)
    assert result is not None
    write_output(store, ctx, report, "category_affinity", category_affinity(
        result.pairs_df, result.diag_df, categories_df, cfg.measure, cfg.category_top_k))

    stats = top_df.agg(F.count("*").alias("rows"), F.count_distinct("item_id").alias("items")).collect()[0]
    pairs = result.pairs_df.count()
    report.rows_out = int(stats["rows"])
    report.metrics.update({"similarity_rows": float(stats["rows"]),
                           "items_with_neighbours": float(stats["items"]),
                           "pairs_after_support": float(pairs * 2), **report_figures(decision)})
    report.notes.update(decision.notes)
    write_metrics(store, ctx, report, decision.rows)
    fitted.release()
    shared.release_cut(cut.name)
    cut.release()
    categories_df.unpersist()
    leaf_categories_df.unpersist()
    window_df.unpersist()
    return report
