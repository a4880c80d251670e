"""Score-only runs: today's `promotion_scores` from the latest trained response model.

Training is the costly part of the response stage; scoring is cheap. A deployment can retrain
weekly and score daily (`recsys response --score-only --run-date D`): the scores then cover the
promotions that launched since the last training and use every user's history up to D. The model
is the newest succeeded `response` run on or before D in `pipeline_runs`, loaded from this
warehouse's `_models/` (so a copied warehouse uses its own copy); its feature set is read back
from the saved pipeline, so the scores are featurised exactly as its training rows were.
"""
from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from recsys_spark.errors import UnknownTableError
from recsys_spark.response.model import ResponseModel
from recsys_spark.response.stage import model_path, read_inputs, write_scores
from recsys_spark.runs import PIPELINE_RUNS_TABLE, RunContext, StageReport
from recsys_spark.stage_io import Inputs
from recsys_spark.tables import TableStore

SCORING_STAGE = "response_scoring"
TRAINING_STAGE = "response"


class TrainedModel(NamedTuple):
    run_id: str
    run_date: dt.date
    path: str


def latest_trained_model(inputs: Inputs) -> TrainedModel:
    """The newest succeeded training run of the response stage on or before the run date.

    Raises:
        UnknownTableError: there is none (run `recsys response` first).
    """
    run_date, root = inputs.ctx.run_date, inputs.store.root
    missing = UnknownTableError(f"response --score-only: no trained response model on or before "
                                f"{run_date} in {root}; run `recsys response` first")
    if not inputs.has(PIPELINE_RUNS_TABLE):
        raise missing
    row = (inputs.read(PIPELINE_RUNS_TABLE, filters=[("run_date", "<=", run_date)])
           .filter((F.col("stage") == TRAINING_STAGE) & (F.col("status") == "succeeded"))
           .orderBy(F.col("run_date").desc(), F.col("attempt").desc())
           .select("run_id", "run_date").first())
    if row is None:
        raise missing
    return TrainedModel(row["run_id"], row["run_date"], model_path(root, row["run_id"]))


def run_response_scoring(spark: SparkSession, store: TableStore, ctx: RunContext) -> StageReport:
    """Score every eligible (user, servable promotion) pair of the run date with the latest
    trained model; replaces the run date's `promotion_scores` partition.

    Raises:
        UnknownTableError: no trained model, `events` / `promotions` missing, or an optional
            table the model was trained with is missing.
    """
    report = StageReport()
    inputs = Inputs(store, ctx, report)
    trained = latest_trained_model(inputs)
    model = ResponseModel.load(trained.path)
    spec = model.feature_spec()
    # Scoring probes sit at the end of the run date: they see the snapshots up to it.
    data = read_inputs(inputs, ctx.config.response, ctx.run_date + dt.timedelta(days=1))
    for table in spec.sources:
        if getattr(data.optional, table) is None:
            raise UnknownTableError(f"response --score-only: the model of {trained.run_date} "
                                    f"uses {table!r}, which does not exist in {store.root}")
    written = write_scores(store, ctx, report, model, spec, trained.run_id, data)
    report.rows_out = written.rows_written
    report.metrics.update({"scored_pairs": float(written.rows_written),
                           "model_age_days": float((ctx.run_date - trained.run_date).days)})
    report.notes.update({"model_path": trained.path, "model_run_id": trained.run_id,
                         "model_run_date": trained.run_date.isoformat(),
                         "features_from": ",".join(("events", "promotions", *spec.sources))})
    return report
