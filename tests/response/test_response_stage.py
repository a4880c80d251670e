"""The response stage end to end on a seeded synthetic log with known true probabilities.

Stated margins (on the 3 test days, ~1300 impressions, only events/promotions/users present):
the model's AUC-ROC beats the per-promotion-rate baseline by >= 0.05, its log loss is lower by
>= 0.01, its expected calibration error is <= 0.05, and its scores of the eligible pairs
correlate with the true response probabilities at position 1 with Pearson r >= 0.8.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from pyspark.ml import PipelineModel
from pyspark.sql import functions as F

from recsys_spark.errors import UnknownTableError
from recsys_spark.response.rescore import SCORING_STAGE, run_response_scoring
from recsys_spark.response.stage import model_path, run_response
from recsys_spark.runs import RunContext
from recsys_spark.settings.response import ResponseConfig
from recsys_spark.stage_runner import run_stage
from recsys_spark.tables import CommitInfo, TableStore
from tests.factories import EVENTS_PARTITIONS, event, frame, make_config
from tests.interference import CommitsBeforeTheFirstWrite
from tests.response.response_synth import RUN_DATE, expected_pairs, generate

pytestmark = pytest.mark.stage

EXCLUDED = {"u000", "c001"}


def _metric(metrics: dict, model: str, name: str) -> float:
    return metrics[(model, name)]


@pytest.fixture(scope="module")
def trained(spark, tmp_path_factory):
    """The stage run once on the synthetic log: (log, store, ctx, report). Mid-run, another
    writer adds a user to `users` (one the stage would score); that commit is withdrawn again
    afterwards, so the module's tests see the tables they were written for."""
    log = generate()
    config = make_config(tmp_path_factory.mktemp("response"), response=ResponseConfig(
        training_days=28, validation_days=3, test_days=3, reg_params=(0.001,),
        elastic_net_params=(0.0, 0.5), max_iter=30, excluded_user_ids=tuple(sorted(EXCLUDED)),
        write_training_set=True))
    store = CommitsBeforeTheFirstWrite(spark, config.warehouse)
    commit = CommitInfo(run_id="clean-run", stage="clean")
    # Old history outside every window the stage reads: its files must not be read.
    ancient = [event(f"old{i}", dt.datetime(2026, 1, 1 + i, 9, tzinfo=dt.timezone.utc), "view",
                     "u001", item_id="i1", category="fashion.sub") for i in range(5)]
    store.write(frame(spark, "events", [*log.events, *ancient]).coalesce(1), "events", "overwrite",
                commit, partition_by=EVENTS_PARTITIONS)
    store.write(frame(spark, "promotions", log.promotions), "promotions", "overwrite", commit)
    users = [{"user_id": u, "run_id": "clean-run"} for u in log.user_ids]
    store.write(frame(spark, "users", users), "users", "overwrite", commit)
    store.arm("users", [*users, {"user_id": "u_late", "run_id": "other"}], mode="overwrite")
    ctx = RunContext(config, RUN_DATE, "response")
    report = run_stage(spark, store, ctx, run_response)
    store.write(frame(spark, "users", users), "users", "overwrite", commit)
    return log, store, ctx, report


def test_response_stage_on_synthetic_log(trained):
    log, store, ctx, report = trained
    metrics = {(r["model"], r["metric"]): r["value"] for r in
               store.read("model_metrics").filter(F.col("split") == "test").collect()}
    auc, base_auc = (_metric(metrics, m, "auc_roc") for m in ("response_logreg",
                                                               "baseline_promotion_rate"))
    loss, base_loss = (_metric(metrics, m, "log_loss") for m in ("response_logreg",
                                                                  "baseline_promotion_rate"))
    ece = _metric(metrics, "response_logreg", "ece")
    print(f"auc {auc:.4f} vs {base_auc:.4f}; log loss {loss:.4f} vs {base_loss:.4f}; ece {ece:.4f}; "
          f"global auc {_metric(metrics, 'baseline_global_rate', 'auc_roc'):.3f}")
    assert auc >= base_auc + 0.05
    assert loss <= base_loss - 0.01
    assert ece <= 0.05
    assert _metric(metrics, "baseline_global_rate", "auc_roc") == pytest.approx(0.5)

    # The run read (and recorded) each input before the other writer's commit to `users` (v1).
    run = store.read("pipeline_runs").filter(F.col("stage") == "response").first()
    assert dict(run["inputs"]) == report.inputs == {"events": 0, "promotions": 0, "users": 0}
    assert store.late_version == 1
    scores = store.read("promotion_scores").filter(F.col("run_date") == RUN_DATE).collect()
    # exactly the eligible pairs (so not u_late's): p5 out of budget, p6 ended, targeting,
    # exclusions
    assert {(r["user_id"], r["promotion_id"]) for r in scores} == expected_pairs(log, EXCLUDED)
    assert len(scores) == len(expected_pairs(log, EXCLUDED))
    assert {(r["run_id"], r["model_run_id"], r["run_date"]) for r in scores} == \
        {(ctx.run_id, ctx.run_id, RUN_DATE)}
    predicted = np.array([r["p_response"] for r in scores])
    truth = np.array([log.true_p(r["user_id"], r["promotion_id"], 1) for r in scores])
    corr = float(np.corrcoef(predicted, truth)[0, 1])
    print(f"correlation with true p: {corr:.3f}; mean p {predicted.mean():.3f} vs {truth.mean():.3f}")
    assert corr >= 0.8

    # the saved model is Spark ML persistence that loads back
    assert len(PipelineModel.load(f"{model_path(store.root, ctx.run_id)}/pipeline").stages) >= 4
    assert report.notes["features_from"] == "events,promotions"
    assert store.read("response_training_set").count() == int(report.rows_in)


def test_response_reads_only_its_windows_of_events(trained):
    log, store, ctx, report = trained
    cfg = ctx.config.response
    # One file per event_date partition (written coalesced): the feature lookback window, and the
    # promo redeems since the earliest active promotion started (Oct 1) for the budgets.
    days = store.partition_dates("events", "event_date")
    lookback = [d for d in days if RUN_DATE - dt.timedelta(days=cfg.feature_lookback_days) <= d <= RUN_DATE]
    spend = [d for d in days if dt.date(2026, 10, 1) <= d <= RUN_DATE]
    assert len(days) == len(lookback) + 5   # the five January days are never read
    assert report.files_read["events"] == len(lookback) + len(spend)


def _scores(store: TableStore, run_date: dt.date) -> list[tuple]:
    return sorted((r["user_id"], r["promotion_id"], r["p_response"], r["model_run_id"]) for r in
                  store.read("promotion_scores").filter(F.col("run_date") == run_date).collect())


def test_score_only_reuses_the_latest_model_and_scores_new_promotions(spark, trained):
    log, store, ctx, _ = trained
    trained_scores = _scores(store, RUN_DATE)
    score_ctx = RunContext(ctx.config, RUN_DATE, SCORING_STAGE)

    # Same date, same model, same features: exactly the training run's scores.
    report = run_stage(spark, store, score_ctx, run_response_scoring)
    assert _scores(store, RUN_DATE) == trained_scores
    assert (report.rows_out, report.metrics["model_age_days"]) == (len(trained_scores), 0.0)
    assert report.notes["model_path"] == model_path(store.root, ctx.run_id)

    # A promotion launched after training (p7, p1's twin) is scored the next day, for p1's users,
    # by the model of RUN_DATE; the trained date's partition is left alone.
    launched = {**next(p for p in log.promotions if p["promotion_id"] == "p1"),
                "promotion_id": "p7", "start_date": RUN_DATE + dt.timedelta(days=1)}
    store.write(frame(spark, "promotions", [*log.promotions, launched]), "promotions", "overwrite",
                CommitInfo(run_id="clean-run", stage="clean"))
    next_day = RUN_DATE + dt.timedelta(days=1)
    report = run_stage(spark, store, RunContext(ctx.config, next_day, SCORING_STAGE),
                       run_response_scoring)
    later = _scores(store, next_day)
    users = {pid: {u for u, p, _, _ in later if p == pid} for pid in ("p1", "p7")}
    assert users["p7"] == users["p1"] == {u for u, p in expected_pairs(log, EXCLUDED) if p == "p1"}
    assert {m for *_, m in later} == {ctx.run_id} and report.metrics["model_age_days"] == 1.0
    assert _scores(store, RUN_DATE) == trained_scores


def test_score_only_without_a_model_on_or_before_the_date_names_the_fix(spark, trained):
    _, store, ctx, _ = trained
    early = RUN_DATE - dt.timedelta(days=1)
    with pytest.raises(UnknownTableError, match=f"no trained response model on or before {early}"
                       ".*run `recsys response` first"):
        run_response_scoring(spark, store, RunContext(ctx.config, early, SCORING_STAGE))
