"""user_segments: KMeans segments with ids stable across runs, readable RFM buckets, cold start.

Segment ids stay stable because KMeans labels are arbitrary: each run's centroids are matched
to the previous run's (segment_centroids of the latest earlier run date) by the Hungarian
algorithm (scipy ``linear_sum_assignment``, minimum total distance in this run's standardized
space), and a matched cluster inherits the old id. Hungarian rather than greedy nearest, because
greedy can hand a contested old id to the wrong cluster and then force a poor second choice.
New clusters with no partner get the smallest unused ids, in order of size (largest first).
Only k centroids come to the driver.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pyspark.ml import Pipeline
from pyspark.ml.clustering import KMeans
from pyspark.ml.feature import StandardScaler, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    DoubleType,
    IntegerType,
    StringType,
    StructField,
    StructType,
)
from scipy.optimize import linear_sum_assignment

from recsys_spark.settings.features import FeaturesConfig

log = logging.getLogger(__name__)

COLD_START = "cold_start"

# Inputs of KMeans, derived from user_features. Heavy-tailed counts and money are log1p'd so a
# few big spenders do not own the clusters; missing recency means "older than the lookback".
SEGMENT_FEATURES: tuple[str, ...] = ("log_recency_days", "log_frequency", "log_monetary",
                                     "log_events", "log_active_days", "price_sensitivity",
                                     "promo_click_rate", "promo_redeem_rate")


@dataclass(frozen=True)
class Centroid:
    """One cluster centre in the unstandardized transformed feature space."""

    segment_id: str
    feature_names: tuple[str, ...]
    center: tuple[float, ...]
    size: int = 0
    matched_from: str | None = None


def with_segment_inputs(features_df: DataFrame, lookback_days: int) -> DataFrame:
    """Adds the SEGMENT_FEATURES columns (no nulls) to user_features rows."""
    def log1p(c: Column) -> Column:
        return F.log1p(c.cast("double"))
    return (features_df
            .withColumn("log_recency_days",
                        log1p(F.coalesce(F.col("recency_days"), F.lit(lookback_days + 1))))
            .withColumn("log_frequency", log1p(F.col("frequency")))
            .withColumn("log_monetary", log1p(F.col("monetary")))
            .withColumn("log_events", log1p(F.col("events")))
            .withColumn("log_active_days", log1p(F.col("active_days")))
            .withColumn("price_sensitivity", F.coalesce(F.col("price_sensitivity"), F.lit(0.0))))


def with_rfm(features_df: DataFrame, cfg: FeaturesConfig) -> DataFrame:
    """Adds rfm_code (e.g. R3F2M1, 0 = no purchase) and the readable rfm_segment."""
    r0, r1 = cfg.rfm_recency_days
    f0, f1 = cfg.rfm_frequency
    m0, m1 = cfg.rfm_monetary
    pr, fr, mo = F.col("purchase_recency_days"), F.col("frequency"), F.col("monetary")
    r = (F.when(pr.isNull(), 0).when(pr <= r0, 3).when(pr <= r1, 2).otherwise(1))
    f = F.when(fr == 0, 0).when(fr >= f1, 3).when(fr >= f0, 2).otherwise(1)
    m = F.when(fr == 0, 0).when(mo >= m1, 3).when(mo >= m0, 2).otherwise(1)
    segment = (F.when(F.col("has_history") == 0, COLD_START)
               .when(F.col("_r") == 0, "browsers")
               .when((F.col("_r") == 3) & (F.col("_f") >= 2), "champions")
               .when(F.col("_r") == 3, "new")
               .when((F.col("_r") == 2) & (F.col("_f") == 3), "loyal")
               .when(F.col("_r") == 2, "promising")
               .when(F.col("_f") >= 2, "at_risk")
               .otherwise("hibernating"))
    return (features_df.withColumn("_r", r).withColumn("_f", f).withColumn("_m", m)
            .withColumn("rfm_code", F.concat(F.lit("R"), F.col("_r").cast("string"), F.lit("F"),
                                             F.col("_f").cast("string"), F.lit("M"),
                                             F.col("_m").cast("string")))
            .withColumn("rfm_segment", segment)
            .drop("_r", "_f", "_m"))


def match_centroids(new_std: np.ndarray, sizes: Sequence[int], previous: Sequence[Centroid],
                    names: Sequence[str], mean: np.ndarray, std: np.ndarray) -> list[tuple[str, str | None]]:
    """Segment id (and the previous id it was matched to) for each new cluster, in cluster order.

    ``new_std`` holds this run's centres in standardized space; previous centres (raw space) are
    standardized with this run's mean/std so both live in one space. Previous centroids over
    other features are ignored (fresh ids).
    """
    k = new_std.shape[0]
    ids: list[str | None] = [None] * k
    matched: list[str | None] = [None] * k
    usable = [c for c in previous if tuple(c.feature_names) == tuple(names)]
    if usable:
        safe_std = np.where(std > 0, std, 1.0)
        old_std = np.array([(np.array(c.center) - mean) / safe_std for c in usable])
        cost = np.linalg.norm(new_std[:, None, :] - old_std[None, :, :], axis=2)
        rows, cols = linear_sum_assignment(cost)
        for i, j in zip(rows, cols, strict=True):
            ids[i] = usable[j].segment_id
            matched[i] = usable[j].segment_id
    used = {i for i in ids if i is not None}
    # Unmatched clusters: largest first, ties by centre coordinates, take the lowest free ids.
    order = sorted((i for i in range(k) if ids[i] is None),
                   key=lambda i: (-sizes[i], tuple(float(x) for x in new_std[i])))
    next_free = 0
    for i in order:
        while f"s{next_free}" in used:
            next_free += 1
        ids[i] = f"s{next_free}"
        used.add(ids[i])
    return [(str(ids[i]), matched[i]) for i in range(k)]


def fit_segments(spark: SparkSession, features_df: DataFrame, cfg: FeaturesConfig, seed: int,
                 previous: Sequence[Centroid]) -> tuple[DataFrame, list[Centroid]]:
    """Assign every user of ``features_df`` a segment.

    Returns:
        (user_id, segment_id, distance) for all users (cold_start for has_history = 0), and the
        centroids of this run.
    """
    inputs_df = with_segment_inputs(features_df, cfg.lookback_days)
    # Sorting fixes the row order KMeans sees, so the same data and seed give the same model.
    hist_df = inputs_df.filter(F.col("has_history") == 1).orderBy("user_id")
    cold_df = inputs_df.filter(F.col("has_history") == 0).select(
        "user_id", F.lit(COLD_START).alias("segment_id"), F.lit(None).cast("double").alias("distance"))
    n_users = hist_df.count()
    if n_users == 0:
        return cold_df, []
    names = list(SEGMENT_FEATURES)
    pipeline = Pipeline(stages=[
        VectorAssembler(inputCols=names, outputCol="_raw"),
        StandardScaler(inputCol="_raw", outputCol="_x", withMean=True, withStd=True),
        KMeans(featuresCol="_x", predictionCol="_cluster", k=min(cfg.k, n_users), seed=seed,
               maxIter=cfg.kmeans_max_iter),
    ])
    model = pipeline.fit(hist_df)
    scaler, kmeans = model.stages[1], model.stages[2]
    mean, std = np.array(scaler.mean.toArray()), np.array(scaler.std.toArray())
    centers_std = np.array([np.asarray(c, dtype=float) for c in kmeans.clusterCenters()])
    assigned_df = model.transform(hist_df).select("user_id", "_cluster",
                                                  vector_to_array("_x").alias("_xa"))
    counts = {int(r["_cluster"]): int(r["count"])
              for r in assigned_df.groupBy("_cluster").count().collect()}
    sizes = [counts.get(i, 0) for i in range(len(centers_std))]
    ids = match_centroids(centers_std, sizes, previous, names, mean, std)
    centroids = [Centroid(seg, tuple(names), tuple(float(v) for v in centers_std[i] * std + mean),
                          sizes[i], old) for i, (seg, old) in enumerate(ids)]
    centers_df = spark.createDataFrame(
        [(i, seg, [float(v) for v in centers_std[i]]) for i, (seg, _) in enumerate(ids)],
        StructType([StructField("_cluster", IntegerType()), StructField("segment_id", StringType()),
                    StructField("_c", ArrayType(DoubleType()))]))
    distance = F.sqrt(F.aggregate(F.zip_with("_xa", "_c", lambda a, b: (a - b) * (a - b)),
                                  F.lit(0.0), lambda acc, v: acc + v))
    hist_assigned_df = (assigned_df.join(F.broadcast(centers_df), on="_cluster", how="inner")
                        .select("user_id", "segment_id", distance.alias("distance")))
    log.info("segments: %d users in %d clusters (%s)", n_users, len(ids),
             ", ".join(f"{c.segment_id}<-{c.matched_from}" for c in centroids))
    return hist_assigned_df.unionByName(cold_df), centroids


def centroids_from_rows(rows: Sequence[dict]) -> list[Centroid]:
    """Centroid objects from segment_centroids rows (as dicts)."""
    return [Centroid(r["segment_id"], tuple(r["feature_names"]), tuple(r["center"]), int(r["size"] or 0),
                     r.get("matched_from")) for r in rows
            if r["center"] is not None and all(math.isfinite(v) for v in r["center"])]
