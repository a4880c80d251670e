"""The response stage: read, train (train.py), evaluate (evaluate.py), score (scoring.py), write.

Reads `events` (the feature lookback window, and promo redemptions since the earliest active
promotion started, for the budgets), `promotions` (required), `users` and the per-run tables
`user_features`, `user_segments`, `als_category_affinity`, `item_similarity` (optional: only
the run partitions the point-in-time features can use). Writes `promotion_scores`,
`model_metrics`, optionally `response_training_set`, and the model under
``<warehouse>/_models/response/<run_id>``.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from recsys_spark.domain.models import RESPONSE_MODEL, RESPONSE_PROMOTION_RATE
from recsys_spark.domain.promotions import servable_promotions, spend_start, user_categories
from recsys_spark.paths import join_uri
from recsys_spark.response.evaluate import evaluate
from recsys_spark.response.feature_set import FeatureSpec, OptionalInputs
from recsys_spark.response.model import ResponseModel, fit
from recsys_spark.response.scoring import candidate_users, eligible_pairs, score_pairs
from recsys_spark.response.train import build_training_data, training_set_rows
from recsys_spark.runs import RunContext, StageReport
from recsys_spark.settings.response import ResponseConfig
from recsys_spark.stage_io import DateWindow, Inputs, write_metrics, write_output
from recsys_spark.tables import TableStore, WriteResult

log = logging.getLogger(__name__)

STAGE = "response"
SCORES_TABLE = "promotion_scores"
TRAINING_SET_TABLE = "response_training_set"
PER_RUN_INPUTS = ("user_features", "user_segments", "als_category_affinity", "item_similarity")


def model_path(warehouse_root: str, run_id: str) -> str:
    """Where the model of ``run_id`` is saved (Spark ML persistence)."""
    return join_uri(warehouse_root, f"_models/response/{run_id}")


@dataclass(frozen=True)
class ResponseInputs:
    """The stage's inputs, each pinned and pruned to what the run needs."""

    events_df: DataFrame            # the feature lookback window, up to the run date
    servable_df: DataFrame          # promotions active on the run date with budget left
    promotions_df: DataFrame
    users_df: DataFrame | None
    optional: OptionalInputs        # per-run tables, from the snapshot before the first probe on
    latest_features_df: DataFrame | None
    latest_segments_df: DataFrame | None


def read_inputs(inputs: Inputs, cfg: ResponseConfig, first_probe_date: dt.date) -> ResponseInputs:
    """Read every input for probes from ``first_probe_date`` to the run date.

    Raises:
        UnknownTableError: `events` or `promotions` is missing.
    """
    run_date = inputs.ctx.run_date
    events_df = inputs.required("events", DateWindow(
        run_date - dt.timedelta(days=cfg.feature_lookback_days), run_date))
    promotions_df = inputs.required("promotions")
    first_spend = spend_start(promotions_df, run_date)
    spend_events_df = inputs.required(
        "events", None if first_spend is None else DateWindow(first_spend, run_date))
    return ResponseInputs(
        events_df=events_df,
        servable_df=servable_promotions(promotions_df, spend_events_df, run_date),
        promotions_df=promotions_df,
        users_df=inputs.optional("users"),
        optional=OptionalInputs(*(inputs.runs_from(t, first_probe_date) for t in PER_RUN_INPUTS)),
        latest_features_df=inputs.latest_run("user_features"),
        latest_segments_df=inputs.latest_run("user_segments"))


def write_scores(store: TableStore, ctx: RunContext, report: StageReport, model: ResponseModel,
                 spec: FeatureSpec, model_run_id: str, data: ResponseInputs) -> WriteResult:
    """Score every eligible (user, servable promotion) pair of the run date with ``model`` and
    replace the run date's partition of `promotion_scores`."""
    cfg, run_date = ctx.config.response, ctx.run_date
    users_df = candidate_users(data.users_df, data.events_df, data.latest_segments_df, cfg, run_date)
    pairs_df = eligible_pairs(users_df, data.servable_df,
                              user_categories(data.events_df, data.latest_features_df, run_date),
                              cfg.targeting)
    scores_df = score_pairs(pairs_df, model, spec, data.events_df, data.promotions_df, data.optional,
                            cfg, run_date, model_run_id)
    return write_output(store, ctx, report, SCORES_TABLE, scores_df)


def run_response(spark: SparkSession, store: TableStore, ctx: RunContext) -> StageReport:
    """Train, calibrate and measure the response model on logged impressions up to the run
    date, save it, and score every eligible (user, servable promotion) pair.

    Raises:
        UnknownTableError: `events` or `promotions` is missing.
        DataQualityError: too few labelled impressions (or of one class) in a split.
    """
    cfg = ctx.config.response
    report = StageReport()
    first_probe_date = ctx.run_date - dt.timedelta(days=cfg.training_days - 1)
    data = read_inputs(Inputs(store, ctx, report), cfg, first_probe_date)

    training = build_training_data(data.events_df, data.promotions_df, data.optional, cfg,
                                   ctx.run_date)
    model, grid = fit(training.split("train"), training.split("validation"), training.spec, cfg,
                      training.counts["train"][1], training.counts["train"][0])
    metric_rows, results = evaluate(model, grid, training, cfg)
    path = model_path(store.root, ctx.run_id)
    model.save(path)

    written = write_scores(store, ctx, report, model, training.spec, ctx.run_id, data)
    if cfg.write_training_set:
        write_output(store, ctx, report, TRAINING_SET_TABLE, training_set_rows(training))
    write_metrics(store, ctx, report, metric_rows)
    training.training_df.unpersist()

    model_m, baseline = results[RESPONSE_MODEL], results[RESPONSE_PROMOTION_RATE]
    report.rows_in = sum(n for n, _ in training.counts.values())
    report.rows_out = written.rows_written
    report.metrics.update({
        "auc_roc": model_m.auc_roc, "auc_pr": model_m.auc_pr, "log_loss": model_m.log_loss,
        "ece": model_m.ece, "baseline_promotion_auc_roc": baseline.auc_roc,
        "baseline_promotion_log_loss": baseline.log_loss,
        "scored_pairs": float(written.rows_written)})
    report.notes.update({
        "model_path": path, "calibration": cfg.calibration, "eval_split": training.eval_split,
        "features_from": ",".join(("events", "promotions", *training.spec.sources)),
        "chosen_params": ",".join(f"{k}={v}" for k, v in model.params.items())})
    return report
