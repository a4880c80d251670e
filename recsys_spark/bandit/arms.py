"""Arm posteriors for the run: decayed impression/reward counts per (context, promotion) from
`events`, Beta priors from the response model's scores (priors.py), and the calibration k."""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recsys_spark.bandit.arm_stats import context_counts, rewarded_impressions, window_bounds
from recsys_spark.bandit.priors import context_means, posteriors, prior_calibration
from recsys_spark.settings.bandit import BanditConfig


def arm_statistics(events_df: DataFrame, scores_df: DataFrame, segments_df: DataFrame | None,
                   run_date: dt.date, config: BanditConfig) -> tuple[DataFrame, float]:
    """Posteriors per (context, promotion) (see priors.py) with the window columns, and the
    calibration k applied to the response model's means."""
    # Both inputs are small (contexts x promotions) but cost a pass over all scores / impressions;
    # posteriors() reads them several times (self-joins), so they are materialized once here.
    counts_df = context_counts(rewarded_impressions(events_df, run_date, config),
                               segments_df).localCheckpoint(eager=True)
    means_df = context_means(scores_df, segments_df).localCheckpoint(eager=True)
    start, end = window_bounds(run_date, config)
    calibration = prior_calibration(means_df, counts_df, config)
    return (posteriors(means_df, counts_df, config, calibration)
            .withColumn("window_start", F.lit(start)).withColumn("window_end", F.lit(end))), calibration
