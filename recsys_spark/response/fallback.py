"""Too little labelled history to train the response model: publish the best baseline.

A young shop (or `recsys run --days 3`) has too few labelled impressions for a train,
validation and test split. Instead of failing, the stage scores every eligible pair with its
promotion's response rate shrunk toward the global rate (``baseline_promotion_rate``, the
baseline the model is measured against):

    p(promotion) = (responses + s * g) / (impressions + s)

with s = ``fallback_prior_strength`` pseudo-impressions and g the global rate of the labelled
impressions, or ``fallback_prior_rate`` when there are none. The bandit then starts from these
rates and its own posteriors; the run summary says the baseline was published and why.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recsys_spark.response.labels import build_labels
from recsys_spark.settings.response import ResponseConfig


@dataclass(frozen=True)
class BaselineRates:
    rates_df: DataFrame      # promotion_id, p_promotion (promotions with labelled impressions)
    global_rate: float       # g, or the prior rate without labels
    impressions: int
    responses: int


def promotion_rates(events_df: DataFrame, cfg: ResponseConfig, run_date: dt.date) -> BaselineRates:
    """Shrunk per-promotion rates from the labelled impressions of the training window."""
    first_date = run_date - dt.timedelta(days=cfg.training_days - 1)
    labels_df = build_labels(events_df, run_date, cfg.label_events, cfg.attribution_window_hours,
                             first_date).select("promotion_id", F.col("label").cast("double"))
    counts_df = labels_df.groupBy("promotion_id").agg(F.count(F.lit(1)).alias("n"),
                                                      F.sum("label").alias("pos"))
    totals = counts_df.agg(F.sum("n").alias("n"), F.sum("pos").alias("pos")).first()
    assert totals is not None  # a global aggregate has one row
    impressions, responses = int(totals["n"] or 0), int(totals["pos"] or 0)
    g = responses / impressions if impressions else cfg.fallback_prior_rate
    s = cfg.fallback_prior_strength
    shrunk = (F.col("pos") + F.lit(s * g)) / (F.col("n") + F.lit(s))
    rates_df = counts_df.select("promotion_id", shrunk.alias("p_promotion"))
    return BaselineRates(rates_df, g, impressions, responses)


def baseline_scores(pairs_df: DataFrame, rates: BaselineRates, model_run_id: str) -> DataFrame:
    """user_id, promotion_id, p_response, model_run_id for ``pairs_df``: the promotion's shrunk
    rate (the global rate for a promotion without labelled impressions)."""
    return (pairs_df.join(F.broadcast(rates.rates_df), on="promotion_id", how="left")
            .select("user_id", "promotion_id",
                    F.coalesce("p_promotion", F.lit(rates.global_rate)).alias("p_response"),
                    F.lit(model_run_id).alias("model_run_id")))
