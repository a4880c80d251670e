"""The `als` stage: read inputs, map ids, fit ALS, choose the published item ranking, write.

Reads `events` (required), `items`, `users`, `user_segments` (optional). Writes `als_id_map`
(append), `als_user_factors`, `als_item_factors` (the ALS fit on every day up to the run date),
`als_recommendations` (the item ranking that won on the validation window: ALS, a baseline, a
co-occurrence model or their blend — als/item_ranking.py, docs/rankings.md), `model_metrics`
(every candidate's validation and test figures, the `--tune` trials, the choice), and the model
under ``<warehouse>/_models/als/<run_id>``.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys_spark.als import recommend as rc
from recsys_spark.als import tuning
from recsys_spark.als.confidence import build_ratings, end_of_day
from recsys_spark.als.id_mapping import update_id_map
from recsys_spark.als.item_ranking import ALS, ItemAls, item_task
from recsys_spark.als.train import AlsParams, fit_factors, save_model
from recsys_spark.ranking.selection import (
    Decision,
    RankingTask,
    choose,
    publish,
    report_figures,
    without_choice,
)
from recsys_spark.ranking.windows import EvalWindows
from recsys_spark.runs import RunContext, StageReport
from recsys_spark.settings.als import AlsConfig
from recsys_spark.stage_io import DateWindow, Inputs, write_metrics, write_output
from recsys_spark.tables import TableStore

log = logging.getLogger(__name__)

STAGE = "als"


@dataclass
class AlsInputs:
    """The stage's inputs, already restricted to the run (window, latest partition)."""

    events_df: DataFrame
    items_df: DataFrame | None
    users_df: DataFrame | None
    segments_df: DataFrame | None


def read_inputs(inputs: Inputs, config: AlsConfig) -> AlsInputs:
    """Every input, pinned. Raises UnknownTableError without `events`."""
    return AlsInputs(
        events_df=inputs.required("events", DateWindow.ending(inputs.ctx.run_date, config.window_days)),
        items_df=inputs.optional("items"),
        users_df=inputs.optional("users"),
        segments_df=inputs.latest_run("user_segments"))


def target_users(inputs: AlsInputs, ratings_df: DataFrame) -> DataFrame:
    """Who gets a list: everyone with a rating in the window plus every user of `users`."""
    target_df = ratings_df.select("user_id")
    if inputs.users_df is not None:
        target_df = target_df.unionByName(inputs.users_df.select("user_id"))
    return target_df.filter(F.col("user_id").isNotNull()).distinct()


def decide(task: RankingTask, windows: EvalWindows, ctx: RunContext) -> Decision:
    """The choice among the candidates (or ALS unchosen when als.evaluate is false)."""
    if not ctx.config.als.evaluate:
        return without_choice(task, ALS, "als.evaluate is false: ALS published without a choice",
                              windows, ctx.config.ranking)
    return choose(task, windows, ctx.config.ranking, ctx.seed("choose"))


def run_als(spark: SparkSession, store: TableStore, ctx: RunContext, tune: bool = False) -> StageReport:
    """The als stage. Returns its report; raises UnknownTableError when `events` is missing and
    AlsIdRangeError when ids exceed ALS's int range. ``tune`` (``recsys als --tune``) chooses
    ALS's parameters on the validation window first (als/tuning.py)."""
    config, ranking = ctx.config.als, ctx.config.ranking
    started = time.time()  # seconds_* metrics are cumulative from here
    report = StageReport()
    inputs = read_inputs(Inputs(store, ctx, report), config)
    events_df = inputs.events_df.persist(StorageLevel.MEMORY_AND_DISK)
    ratings_df = build_ratings(events_df, config, end_of_day(ctx.run_date)).persist(
        StorageLevel.MEMORY_AND_DISK)
    try:
        report.rows_in = ratings_df.count()
        # Maps are joined many times (indexing, factors back to ids): keep them.
        user_map_df = update_id_map(spark, store, ctx, "user",
                                    ratings_df.select(F.col("user_id").alias("id"))).persist()
        item_map_df = update_id_map(spark, store, ctx, "item",
                                    ratings_df.select(F.col("item_id").alias("id"))).persist()
        item_cat_df = rc.item_categories(inputs.items_df, events_df).persist(
            StorageLevel.MEMORY_AND_DISK)
        windows = EvalWindows.for_run(ctx.run_date, config.window_days, ranking.validation_days,
                                      ranking.test_days)
        als = ItemAls(events_df, user_map_df, item_map_df, item_cat_df, ctx.config,
                      AlsParams.from_config(config), ctx.seed("fit"))
        task = item_task(events_df, inputs.segments_df, als, ctx.config, ctx.seed("items"),
                         config.fallback)
        report.metrics["seconds_prepare"] = round(time.time() - started, 3)
        trial_rows: list[dict[str, Any]] = []
        if tune:
            als.params, trial_rows = tuning.tune(task, als, tuning.parameter_grid(config), windows,
                                                 ranking, ctx.seed("tune"))
            report.metrics["seconds_tune"] = round(time.time() - started, 3)

        factors = fit_factors(ratings_df, user_map_df, item_map_df, config, als.params, ctx.seed("fit"))
        als.prefit["publish"] = (ratings_df, factors)
        report.notes["model_uri"] = save_model(factors.model, store.root, ctx.run_id)
        report.notes["params"] = ",".join(f"{k}={v}" for k, v in als.params.as_dict().items())
        report.metrics["seconds_fit"] = round(time.time() - started, 3)

        decision = decide(task, windows, ctx)
        report.metrics["seconds_evaluate"] = round(time.time() - started, 3)
        published = publish(task, decision, ctx.run_date, target_users(inputs, ratings_df),
                            config.top_n, ranking.blend_pool)
        try:
            outputs = {"als_user_factors": factors.user_factors_df,
                       "als_item_factors": factors.item_factors_df,
                       "als_recommendations": published.ranking_df}
            for table, df in outputs.items():
                result = write_output(store, ctx, report, table, df)
                report.metrics[f"rows_{table}"] = float(result.rows_written)
        finally:
            published.release()
        report.rows_out = int(report.metrics["rows_als_recommendations"])
        report.metrics["seconds_outputs"] = round(time.time() - started, 3)
        write_metrics(store, ctx, report, trial_rows + decision.rows)
        report.metrics.update(report_figures(decision))
        report.notes.update(decision.notes)
        for cached_df in (item_cat_df, user_map_df, item_map_df):
            cached_df.unpersist()
    finally:
        ratings_df.unpersist()
        events_df.unpersist()
    return report

