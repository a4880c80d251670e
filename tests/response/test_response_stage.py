"""The response stage end to end on a seeded synthetic log with known true probabilities.

Stated margins (on the 3 test days, ~1300 impressions, only events/promotions/users present):
the model's AUC-ROC beats the per-promotion-rate baseline by >= 0.05, its log loss is lower by
>= 0.01, its expected calibration error is <= 0.05, and its scores of the eligible pairs
correlate with the true response probabilities at position 1 with Pearson r >= 0.8.
"""
from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml import PipelineModel
from pyspark.sql import functions as F

from recsys_spark.response.settings import ResponseConfig
from recsys_spark.response.stage import model_path, run_response
from recsys_spark.runs import RunContext
from recsys_spark.stage_runner import run_stage
from recsys_spark.tables import CommitInfo, TableStore
from tests.conftest import make_config
from tests.response.response_data import USERS, events_df, promotions_df
from tests.response.response_synth import RUN_DATE, expected_pairs, generate

pytestmark = pytest.mark.stage

EXCLUDED = {"u000", "c001"}


def _metric(metrics: dict, model: str, name: str) -> float:
    return metrics[(model, name)]


def test_response_stage_on_synthetic_log(spark, tmp_path):
    log = generate()
    config = make_config(tmp_path, response=ResponseConfig(
        training_days=28, validation_days=3, test_days=3, reg_params=(0.001,),
        elastic_net_params=(0.0, 0.5), max_iter=30, excluded_user_ids=tuple(sorted(EXCLUDED)),
        write_training_set=True))
    store = TableStore(spark, config.warehouse)
    commit = CommitInfo(run_id="clean-run", stage="clean")
    store.write(events_df(spark, log.events), "events", "overwrite", commit)
    store.write(promotions_df(spark, log.promotions), "promotions", "overwrite", commit)
    store.write(spark.createDataFrame([(u, None, None, None, "clean-run") for u in log.user_ids],
                                      USERS), "users", "overwrite", commit)
    ctx = RunContext(config, RUN_DATE, "response")

    report = run_stage(spark, store, ctx, run_response)

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

    scores = store.read("promotion_scores").collect()
    # exactly the eligible pairs: p5 out of budget, p6 ended, targeting, exclusions
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
