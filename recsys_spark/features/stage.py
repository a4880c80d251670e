"""The features stage: events (+ promotions, users, items) -> user_features, user_segments,
segment_centroids, item_stats for one run date."""
from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from recsys_spark.features.item_stats import build_item_stats
from recsys_spark.features.segments import Centroid, centroids_from_rows, fit_segments, with_rfm
from recsys_spark.features.user_features import build_user_features
from recsys_spark.runs import RunContext, StageReport, derive_seed
from recsys_spark.schemas.features import SEGMENT_CENTROIDS
from recsys_spark.stage_io import DateWindow, Inputs, conform, spec_of, write_output
from recsys_spark.tables import TableStore

log = logging.getLogger(__name__)

STAGE = "features"


def previous_centroids(inputs: Inputs) -> list[Centroid]:
    """Centroids of the latest run date BEFORE this one (so a rerun of a date is reproducible)."""
    previous_df = inputs.latest_run("segment_centroids", strictly_before=True)
    if previous_df is None:
        return []
    rows = previous_df.collect()  # k rows
    return centroids_from_rows([r.asDict() for r in rows])


def run_features(spark: SparkSession, store: TableStore, ctx: RunContext) -> StageReport:
    """Compute and write this run date's user_features, user_segments, segment_centroids and
    item_stats (each replacing its run_date partition).

    Raises:
        UnknownTableError: `events` does not exist (run clean first).
    """
    cfg = ctx.config.features
    report = StageReport()
    inputs = Inputs(store, ctx, report)
    window_df = inputs.required("events", DateWindow.ending(ctx.run_date, cfg.lookback_days)).cache()
    promotions_df = inputs.optional("promotions")
    users_df = inputs.optional("users")
    items_df = inputs.optional("items")
    report.rows_in = window_df.count()

    # Conformed before caching: segments and RFM are computed from the table's typed columns.
    features_df = conform(build_user_features(window_df, promotions_df, users_df, ctx.run_date, cfg),
                          spec_of("user_features"), ctx).cache()
    write_output(store, ctx, report, "user_features", features_df)

    seed = ctx.seed("kmeans") if cfg.seed_per_run_date else derive_seed(ctx.config.run.seed, STAGE, "kmeans")
    assigned_df, centroids = fit_segments(spark, features_df, cfg, seed, previous_centroids(inputs))
    segments_df = with_rfm(features_df, cfg).join(assigned_df, on="user_id", how="inner")
    write_output(store, ctx, report, "user_segments", segments_df)
    write_output(store, ctx, report, "segment_centroids", _centroids_df(spark, centroids))
    write_output(store, ctx, report, "item_stats",
                 build_item_stats(window_df, items_df, ctx.run_date, cfg))

    counts = features_df.agg(F.count("*").alias("users"),
                             F.sum("has_history").alias("with_history")).collect()[0]
    report.metrics.update({"users": float(counts["users"]),
                           "users_with_history": float(counts["with_history"] or 0),
                           "segments": float(len(centroids))})
    report.rows_out = int(counts["users"])
    features_df.unpersist()
    window_df.unpersist()
    return report


def _centroids_df(spark: SparkSession, centroids: list[Centroid]) -> DataFrame:
    rows = [{"segment_id": c.segment_id, "feature_names": list(c.feature_names),
             "center": list(c.center), "size": c.size, "matched_from": c.matched_from}
            for c in centroids]
    schema = StructType([f for f in SEGMENT_CENTROIDS.fields if f.name not in ("run_id", "run_date")])
    return spark.createDataFrame(rows, schema)
