"""The `als` stage: read inputs, map ids, evaluate (or tune), fit, write every output.

Reads `events` (required), `items`, `users`, `user_segments`, `item_similarity` (optional).
Writes `als_id_map` (append), `als_user_factors`, `als_item_factors`, `als_recommendations`,
`als_category_affinity` (run-date partitions), `model_metrics`, and the model under
``<warehouse>/_models/als/<run_id>``.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Any

from pyspark import StorageLevel
from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys_spark.als import evaluate as ev
from recsys_spark.als import recommend as rc
from recsys_spark.als.confidence import build_ratings, end_of_day
from recsys_spark.als.id_mapping import update_id_map, with_id, with_index
from recsys_spark.als.train import ITEM_IDX, USER_IDX, AlsParams, fit_als, save_model
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
    similarity_df: DataFrame | None


@dataclass
class Factors:
    """A fitted model and its factors keyed by string ids."""

    model: ALSModel
    user_factors_df: DataFrame   # [user_id, features]
    item_factors_df: DataFrame   # [item_id, features]


def read_inputs(inputs: Inputs, config: AlsConfig) -> AlsInputs:
    """Every input, pinned. Raises UnknownTableError without `events`."""
    segments_df = inputs.latest_run("user_segments") if config.cold_start == "segment" else None
    return AlsInputs(
        events_df=inputs.required("events", DateWindow.ending(inputs.ctx.run_date, config.window_days)),
        items_df=inputs.optional("items"),
        users_df=inputs.optional("users"),
        segments_df=segments_df,
        similarity_df=inputs.latest_run("item_similarity"))


def fit_factors(ratings_df: DataFrame, user_map_df: DataFrame, item_map_df: DataFrame,
                config: AlsConfig, params: AlsParams, seed: int) -> Factors:
    """Fit ALS on string-keyed ratings; return the model and string-keyed factors."""
    indexed_df = (ratings_df.transform(with_index, user_map_df, "user_id", USER_IDX)
                  .transform(with_index, item_map_df, "item_id", ITEM_IDX))
    model = fit_als(indexed_df, config, params, seed)
    user_df = model.userFactors.withColumnRenamed("id", USER_IDX).transform(
        with_id, user_map_df, USER_IDX, "user_id").select("user_id", "features")
    item_df = model.itemFactors.withColumnRenamed("id", ITEM_IDX).transform(
        with_id, item_map_df, ITEM_IDX, "item_id").select("item_id", "features")
    return Factors(model, user_df, item_df)


def _metric_rows(model: str, values: dict[str, float], params: dict[str, str] | None = None
                 ) -> list[dict[str, Any]]:
    return [{"model": model, "metric": name, "value": value, "split": ev.SPLIT, "params": params}
            for name, value in values.items()]


def evaluate_split(inputs: AlsInputs, user_map_df: DataFrame, item_map_df: DataFrame,
                   item_cat_df: DataFrame, catalog_size: int, ctx: RunContext, tune: bool
                   ) -> tuple[AlsParams, list[dict[str, Any]], dict[str, str]]:
    """Evaluate the configured parameters (or every grid point when ``tune``) and baselines.

    Returns:
        (parameters for the final fit, model_metrics rows, notes).
    """
    config = ctx.config.als
    configured = AlsParams.from_config(config)
    cut = ev.split_date(ctx.run_date, config.holdout_days)
    train_events_df, test_events_df = ev.chronological_split(inputs.events_df, ctx.run_date,
                                                             config.holdout_days)
    train_ratings_df = build_ratings(train_events_df, config, end_of_day(cut)).persist(
        StorageLevel.MEMORY_AND_DISK)
    truth_df = (ev.relevant_items(test_events_df, config)
                .join(train_ratings_df.select("user_id").distinct(), on="user_id", how="inner")
                .persist(StorageLevel.MEMORY_AND_DISK))
    try:
        n_truth = truth_df.count()
        if n_truth == 0:
            return configured, [], {"evaluation": f"skipped: no relevant test events after {cut}"}
        eval_users_df = truth_df.select("user_id").distinct()
        purchased_df = (rc.purchased_items(train_events_df) if config.exclude_purchased else None)
        popularity_df = rc.item_popularity(train_ratings_df)
        k = config.k
        eval_config = dataclasses.replace(config, top_n=k)
        grid = ev.parameter_grid(config) if tune else [configured]
        trials: list[tuple[AlsParams, dict[str, float]]] = []
        rows: list[dict[str, Any]] = []
        for i, params in enumerate(grid):
            factors = fit_factors(train_ratings_df, user_map_df, item_map_df, config, params,
                                  ctx.seed("fit"))
            recs_df = rc.recommend_warm(eval_users_df, train_ratings_df, item_cat_df, popularity_df,
                                        purchased_df, factors.user_factors_df,
                                        factors.item_factors_df, eval_config)
            values = ev.ranking_metrics(recs_df, truth_df, item_map_df, k, catalog_size)
            trials.append((params, values))
            if tune:
                rows += _metric_rows(f"als_trial_{i:02d}", values, params.as_dict())
            log.info("als trial %s %s: ndcg@%s=%.4f", i, params, k, values[f"ndcg@{k}"])
        best, best_values = ev.choose_best(trials, k)
        rows += _metric_rows("als", best_values, best.as_dict())
        popular_df = ev.popularity_recommendations(eval_users_df, popularity_df, purchased_df, k)
        rows += _metric_rows("popularity", ev.ranking_metrics(popular_df, truth_df, item_map_df, k,
                                                              catalog_size))
        if inputs.similarity_df is not None:
            sim_recs_df = ev.similarity_recommendations(eval_users_df, train_ratings_df,
                                                        inputs.similarity_df, purchased_df, k)
            # item_similarity was built from all data up to its run date, test period included,
            # so this baseline is optimistic; the split name says so.
            rows += [{**r, "split": f"{ev.SPLIT}_similarity_unsplit"} for r in _metric_rows(
                "item_similarity",
                ev.ranking_metrics(sim_recs_df, truth_df, item_map_df, k, catalog_size))]
        notes = {"split_date": cut.isoformat(), "eval_users": str(int(best_values["eval_users"]))}
        return best, rows, notes
    finally:
        truth_df.unpersist()
        train_ratings_df.unpersist()


def build_outputs(inputs: AlsInputs, events_df: DataFrame, ratings_df: DataFrame,
                  item_cat_df: DataFrame, factors: Factors, ctx: RunContext) -> dict[str, DataFrame]:
    """The four run-partition outputs (lazy), keyed by table name, in the tables' schemas.

    Users to recommend for: everyone with a rating in the window plus every user of `users`;
    those without factors get cold-start lists.
    """
    config = ctx.config.als
    target_df = ratings_df.select("user_id")
    if inputs.users_df is not None:
        target_df = target_df.unionByName(inputs.users_df.select("user_id"))
    target_df = target_df.filter(F.col("user_id").isNotNull()).distinct()
    purchased_df = rc.purchased_items(events_df) if config.exclude_purchased else None
    popularity_df = rc.item_popularity(ratings_df)
    warm_users_df = factors.user_factors_df.select("user_id")
    warm_df = rc.recommend_warm(warm_users_df, ratings_df, item_cat_df, popularity_df, purchased_df,
                                factors.user_factors_df, factors.item_factors_df, config)
    cold_users_df = target_df.join(warm_users_df, on="user_id", how="left_anti")
    cold_df = rc.recommend_cold(cold_users_df, ratings_df, popularity_df, inputs.segments_df,
                                purchased_df, config.top_n)
    affinity_df = rc.category_affinity(factors.user_factors_df, factors.item_factors_df, item_cat_df)
    return {
        "als_user_factors": factors.user_factors_df,
        "als_item_factors": factors.item_factors_df,
        "als_recommendations": warm_df.unionByName(cold_df),
        "als_category_affinity": affinity_df,
    }


def run_als(spark: SparkSession, store: TableStore, ctx: RunContext, tune: bool = False) -> StageReport:
    """The als stage. Returns its report; raises UnknownTableError when `events` is missing and
    AlsIdRangeError when ids exceed ALS's int range."""
    config = ctx.config.als
    started = time.time()  # seconds_* metrics are cumulative from here
    report = StageReport()
    inputs = read_inputs(Inputs(store, ctx, report), config)
    events_df = inputs.events_df.persist(StorageLevel.MEMORY_AND_DISK)
    ratings_df = build_ratings(events_df, config, end_of_day(ctx.run_date)).persist(
        StorageLevel.MEMORY_AND_DISK)
    try:
        report.rows_in = ratings_df.count()
        # Maps are joined many times (indexing, factors back to ids, evaluation): keep them.
        user_map_df = update_id_map(spark, store, ctx, "user",
                                    ratings_df.select(F.col("user_id").alias("id"))).persist()
        item_map_df = update_id_map(spark, store, ctx, "item",
                                    ratings_df.select(F.col("item_id").alias("id"))).persist()
        item_cat_df = rc.item_categories(inputs.items_df, events_df).persist(
            StorageLevel.MEMORY_AND_DISK)
        catalog_size = (inputs.items_df.count() if inputs.items_df is not None
                        else item_map_df.count())
        params, metric_rows = AlsParams.from_config(config), []
        report.metrics["seconds_prepare"] = round(time.time() - started, 3)
        if tune or config.evaluate:
            params, metric_rows, notes = evaluate_split(inputs, user_map_df, item_map_df, item_cat_df,
                                                        catalog_size, ctx, tune)
            report.notes.update(notes)
            report.metrics["seconds_evaluate"] = round(time.time() - started, 3)
        factors = fit_factors(ratings_df, user_map_df, item_map_df, config, params, ctx.seed("fit"))
        report.metrics["seconds_fit"] = round(time.time() - started, 3)
        report.notes["model_uri"] = save_model(factors.model, store.root, ctx.run_id)
        report.notes["params"] = ",".join(f"{k}={v}" for k, v in params.as_dict().items())

        outputs = build_outputs(inputs, events_df, ratings_df, item_cat_df, factors, ctx)
        for table, df in outputs.items():
            result = write_output(store, ctx, report, table, df)
            report.metrics[f"rows_{table}"] = float(result.rows_written)
        report.rows_out = int(report.metrics["rows_als_recommendations"])
        report.metrics["seconds_outputs"] = round(time.time() - started, 3)
        if metric_rows:
            write_metrics(store, ctx, report, metric_rows)
            for row in metric_rows:
                if row["model"] in ("als", "popularity") and row["split"] == ev.SPLIT:
                    report.metrics[f"{row['model']}_{row['metric']}"] = float(row["value"])
        for cached_df in (item_cat_df, user_map_df, item_map_df):
            cached_df.unpersist()
    finally:
        ratings_df.unpersist()
        events_df.unpersist()
    return report
