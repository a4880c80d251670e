"""The features stage: events (+ promotions, users, items) -> user_features, user_segments,
segment_centroids, item_stats for one run date."""
from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys_spark.features.inputs import (
    conform,
    event_date_window,
    filter_event_dates,
    read_input,
    with_run_columns,
)
from recsys_spark.features.item_stats import build_item_stats
from recsys_spark.features.segments import Centroid, centroids_from_rows, fit_segments, with_rfm
from recsys_spark.features.user_features import build_user_features
from recsys_spark.runs import RunContext, StageReport, derive_seed
from recsys_spark.schemas.features import ITEM_STATS, SEGMENT_CENTROIDS, USER_FEATURES, USER_SEGMENTS
from recsys_spark.stage_runner import write_run_partition
from recsys_spark.tables import TableStore

log = logging.getLogger(__name__)

STAGE = "features"


def previous_centroids(store: TableStore, ctx: RunContext, report: StageReport) -> list[Centroid]:
    """Centroids of the latest run date BEFORE this one (so a rerun of a date is reproducible)."""
    if not store.exists("segment_centroids"):
        report.notes["missing_optional_input.segment_centroids"] = "not found"
        return []
    version = report.inputs["segment_centroids"] = store.version("segment_centroids")
    latest = store.latest_run_date("segment_centroids", ctx.run_date, strictly_before=True,
                                   version=version)
    if latest is None:
        return []
    rows = store.read("segment_centroids", version=version,
                      partition_filters=[("run_date", "=", latest)]).collect()  # k rows
    report.notes["segments_matched_to_run_date"] = latest.isoformat()
    return centroids_from_rows([r.asDict() for r in rows])


def run_features(spark: SparkSession, store: TableStore, ctx: RunContext) -> StageReport:
    """Compute and write this run date's user_features, user_segments, segment_centroids and
    item_stats (each replacing its run_date partition).

    Raises:
        UnknownTableError: `events` does not exist (run clean first).
    """
    cfg = ctx.config.features
    report = StageReport()
    events_df = read_input(store, "events", report, STAGE,
                           partition_filters=event_date_window(ctx.run_date, cfg.lookback_days))
    assert events_df is not None
    promotions_df = read_input(store, "promotions", report, STAGE, optional=True)
    users_df = read_input(store, "users", report, STAGE, optional=True)
    items_df = read_input(store, "items", report, STAGE, optional=True)
    window_df = filter_event_dates(events_df, ctx.run_date, cfg.lookback_days).cache()
    report.rows_in = window_df.count()

    features_df = conform(with_run_columns(
        build_user_features(window_df, promotions_df, users_df, ctx.run_date, cfg),
        ctx.run_id, ctx.run_date), USER_FEATURES).cache()
    report.outputs["user_features"] = write_run_partition(store, ctx, features_df, "user_features").version

    seed = ctx.seed("kmeans") if cfg.seed_per_run_date else derive_seed(ctx.config.run.seed, STAGE, "kmeans")
    assigned_df, centroids = fit_segments(spark, features_df, cfg, seed,
                                          previous_centroids(store, ctx, report))
    segments_df = conform(with_run_columns(
        with_rfm(features_df, cfg).join(assigned_df, on="user_id", how="inner"),
        ctx.run_id, ctx.run_date), USER_SEGMENTS)
    report.outputs["user_segments"] = write_run_partition(store, ctx, segments_df, "user_segments").version
    report.outputs["segment_centroids"] = write_run_partition(
        store, ctx, _centroids_df(spark, centroids, ctx), "segment_centroids").version

    stats_df = conform(with_run_columns(build_item_stats(window_df, items_df, ctx.run_date, cfg),
                                        ctx.run_id, ctx.run_date), ITEM_STATS)
    report.outputs["item_stats"] = write_run_partition(store, ctx, stats_df, "item_stats").version

    counts = features_df.agg(F.count("*").alias("users"),
                             F.sum("has_history").alias("with_history")).collect()[0]
    report.metrics.update({"users": float(counts["users"]),
                           "users_with_history": float(counts["with_history"] or 0),
                           "segments": float(len(centroids))})
    report.rows_out = int(counts["users"])
    features_df.unpersist()
    window_df.unpersist()
    return report


def _centroids_df(spark: SparkSession, centroids: list[Centroid], ctx: RunContext) -> DataFrame:
    rows = [{"segment_id": c.segment_id, "feature_names": list(c.feature_names),
             "center": list(c.center), "size": c.size, "matched_from": c.matched_from,
             "run_id": ctx.run_id, "run_date": ctx.run_date} for c in centroids]
    return spark.createDataFrame(rows, SEGMENT_CENTROIDS)
