"""The training set of the response model: labelled impressions with point-in-time features,
split chronologically into train / validation / test."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recsys_spark.errors import DataQualityError
from recsys_spark.response.feature_set import FeatureSpec, OptionalInputs, build_features
from recsys_spark.response.labels import build_labels
from recsys_spark.settings.response import ResponseConfig


@dataclass
class TrainingData:
    """Featurised, labelled impressions (cached) and what was decided about them."""

    training_df: DataFrame                    # features, label (double), propensity, split
    spec: FeatureSpec
    coverage: dict[str, float]                # optional table -> share of rows with a snapshot
    counts: dict[str, tuple[int, int]]        # split -> (rows, positives)
    eval_split: str                           # where the published figures are measured

    def split(self, name: str) -> DataFrame:
        return self.training_df.filter(F.col("split") == name)


def assign_splits(df: DataFrame, last_date: dt.date, cfg: ResponseConfig) -> DataFrame:
    """Add ``split`` by impression date: the last ``test_days`` labelled days are test, the
    ``validation_days`` before them validation, older days train."""
    test_start = last_date - dt.timedelta(days=cfg.test_days - 1)
    valid_start = test_start - dt.timedelta(days=cfg.validation_days)
    d = F.col("impression_date")
    return df.withColumn("split", F.when(d >= F.lit(test_start), "test")
                         .when(d >= F.lit(valid_start), "validation").otherwise("train"))


def check_splits(counts: dict[str, tuple[int, int]], cfg: ResponseConfig) -> None:
    """Raise DataQualityError unless every split has enough rows, positives and negatives."""
    needed = ["train", "validation"] + (["test"] if cfg.test_days else [])
    problems = []
    for split in needed:
        rows, positives = counts.get(split, (0, 0))
        if rows < cfg.min_rows_per_split or positives < cfg.min_positives_per_split \
                or positives == rows:
            problems.append(f"{split}: {rows} rows, {positives} positives")
    if problems:
        raise DataQualityError(
            "response: not enough labelled promo impressions to train (need per split >= "
            f"{cfg.min_rows_per_split} rows and >= {cfg.min_positives_per_split} positives and "
            "some negatives): " + "; ".join(problems))


def build_training_data(events_df: DataFrame, promotions_df: DataFrame, optional: OptionalInputs,
                        cfg: ResponseConfig, run_date: dt.date) -> TrainingData:
    """Label the impressions of the training window, featurise them as of each impression,
    split them and check every split is usable. The result's DataFrame is cached.

    Raises:
        DataQualityError: no labelled impressions, or a split too small or of one class.
    """
    first_date = run_date - dt.timedelta(days=cfg.training_days - 1)
    labels_df = build_labels(events_df, run_date, cfg.label_events,
                             cfg.attribution_window_hours, first_date)
    probes_df = labels_df.select(
        F.col("impression_id").alias("probe_id"), "user_id", "promotion_id",
        F.col("impression_time").alias("probe_time"), F.col("impression_date").alias("probe_date"),
        F.coalesce("position", F.lit(cfg.scoring_position)).alias("position"))
    features_df, spec, coverage = build_features(
        probes_df, events_df, promotions_df, optional, cfg.label_events, cfg.feature_lookback_days,
        min_coverage=cfg.min_optional_coverage, recent_events=cfg.similarity_recent_events)
    last_row = labels_df.agg(F.max("impression_date").alias("d")).first()
    if last_row is None or last_row["d"] is None:
        raise DataQualityError(f"response: no labelled promo impressions between {first_date} and "
                               f"{run_date} (after the {cfg.attribution_window_hours} h window)")
    training_df = assign_splits(
        features_df.join(labels_df.select(F.col("impression_id").alias("probe_id"),
                                          "impression_date", "propensity",
                                          F.col("label").cast("double").alias("label")),
                         on="probe_id", how="inner"),
        last_row["d"], cfg).cache()
    counts = {r["split"]: (int(r["n"]), int(r["pos"])) for r in
              training_df.groupBy("split").agg(F.count(F.lit(1)).alias("n"),
                                               F.sum("label").alias("pos")).collect()}
    check_splits(counts, cfg)
    return TrainingData(training_df, spec, coverage, counts,
                        eval_split="test" if cfg.test_days else "validation")


def training_set_rows(data: TrainingData) -> DataFrame:
    """`response_training_set` rows (without run columns): one per labelled impression."""
    pairs = []
    for name in data.spec.numeric:
        pairs += [F.lit(name), F.col(name).cast("double")]
    return data.training_df.select(
        F.col("probe_id").alias("impression_id"), "user_id", "promotion_id",
        F.col("probe_time").alias("impression_time"), F.col("position").cast("int"), "propensity",
        F.col("label").cast("int"), "split", "promo_type", F.create_map(*pairs).alias("features"))
