"""The response stage: read, label, featurise, train + calibrate, measure, score, write."""
from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys_spark.errors import DataQualityError, UnknownTableError
from recsys_spark.paths import join_uri
from recsys_spark.response.feature_set import FeatureSpec, OptionalInputs, build_features
from recsys_spark.response.labels import build_labels
from recsys_spark.response.metrics import binary_metrics, with_baselines
from recsys_spark.response.model import ResponseModel, fit, grid_rows
from recsys_spark.response.scoring import (
    candidate_users,
    eligible_pairs,
    filter_active_promotions,
    score_pairs,
    user_categories,
)
from recsys_spark.response.truth_metrics import truth_metric_rows
from recsys_spark.runs import RunContext, StageReport
from recsys_spark.settings.response import ResponseConfig
from recsys_spark.stage_runner import write_model_metrics, write_run_partition
from recsys_spark.tables import TableStore, WriteResult

log = logging.getLogger(__name__)

STAGE = "response"
MODEL_NAME = "response_logreg"
SCORES_TABLE = "promotion_scores"
TRAINING_SET_TABLE = "response_training_set"
REQUIRED = {"events": "clean", "promotions": "clean"}
OPTIONAL = ("users", "user_features", "user_segments", "als_category_affinity", "item_similarity")


def model_path(warehouse_root: str, run_id: str) -> str:
    """Where the model of ``run_id`` is saved (Spark ML persistence)."""
    return join_uri(warehouse_root, f"_models/response/{run_id}")


def _read(store: TableStore, table: str, report: StageReport, required_by: str | None
          ) -> DataFrame | None:
    """The table at its current version (recorded in the report); None for a missing optional
    table. Raises UnknownTableError naming the stage to run first for a missing required one."""
    if not store.exists(table):
        if required_by is None:
            log.info("response: optional input %s not found; continuing without it", table)
            return None
        raise UnknownTableError(f"response: input table {table!r} does not exist in "
                                f"{store.root}; run the {required_by} stage first")
    version = store.version(table)
    report.inputs[table] = version
    return store.read(table, version=version)


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


def _training_set_rows(df: DataFrame, spec: FeatureSpec, ctx: RunContext) -> DataFrame:
    pairs = []
    for name in spec.numeric:
        pairs += [F.lit(name), F.col(name).cast("double")]
    return df.select(F.col("probe_id").alias("impression_id"), "user_id", "promotion_id",
                     F.col("probe_time").alias("impression_time"), F.col("position").cast("int"),
                     "propensity", F.col("label").cast("int"), "split", "promo_type",
                     F.create_map(*pairs).alias("features"), F.lit(ctx.run_id).alias("run_id"),
                     F.lit(ctx.run_date).alias("run_date"))


def read_inputs(store: TableStore, report: StageReport, cfg: ResponseConfig, run_date: dt.date
                ) -> tuple[DataFrame, DataFrame, dict[str, DataFrame | None]]:
    """(events of the feature lookback up to the run date, promotions, optional tables by name),
    each read at its current version (recorded in ``report``).

    Raises:
        UnknownTableError: `events` or `promotions` is missing.
    """
    raw_events_df = _read(store, "events", report, REQUIRED["events"])
    promotions_df = _read(store, "promotions", report, REQUIRED["promotions"])
    assert raw_events_df is not None and promotions_df is not None
    optional = {name: _read(store, name, report, None) for name in OPTIONAL}
    lookback_start = run_date - dt.timedelta(days=cfg.feature_lookback_days)
    events_df = raw_events_df.filter(F.col("event_date").between(F.lit(lookback_start),
                                                                 F.lit(run_date)))
    return events_df, promotions_df, optional


def optional_inputs(optional: dict[str, DataFrame | None]) -> OptionalInputs:
    return OptionalInputs(optional["user_features"], optional["user_segments"],
                          optional["als_category_affinity"], optional["item_similarity"])


def write_scores(store: TableStore, ctx: RunContext, report: StageReport, model: ResponseModel,
                 spec: FeatureSpec, model_run_id: str, events_df: DataFrame,
                 promotions_df: DataFrame, optional: dict[str, DataFrame | None]) -> WriteResult:
    """Score every eligible (user, active promotion) pair of the run date with ``model`` and
    replace the run date's partition of `promotion_scores`."""
    cfg, run_date = ctx.config.response, ctx.run_date
    active_df = filter_active_promotions(promotions_df, events_df, run_date)
    users_df = candidate_users(optional["users"], events_df, optional["user_segments"], cfg, run_date)
    pairs_df = eligible_pairs(users_df, active_df,
                              user_categories(events_df, optional["user_features"], run_date),
                              cfg.targeting)
    scores_df = score_pairs(pairs_df, model, spec, events_df, promotions_df,
                            optional_inputs(optional), cfg, run_date, ctx.run_id, model_run_id)
    written = write_run_partition(store, ctx, scores_df, SCORES_TABLE)
    report.outputs[SCORES_TABLE] = written.version
    return written


def run_response(spark: SparkSession, store: TableStore, ctx: RunContext) -> StageReport:
    """Train, calibrate and measure the response model on logged impressions up to the run
    date, save it, and score every eligible (user, active promotion) pair.

    Returns:
        The StageReport (inputs and versions, outputs, metrics, notes).

    Raises:
        UnknownTableError: `events` or `promotions` is missing.
        DataQualityError: too few labelled impressions (or of one class) in a split.
    """
    cfg = ctx.config.response
    run_date = ctx.run_date
    report = StageReport()
    events_df, promotions_df, optional = read_inputs(store, report, cfg, run_date)
    inputs = optional_inputs(optional)

    # 1. labels and point-in-time features of the training impressions
    first_date = run_date - dt.timedelta(days=cfg.training_days - 1)
    labels_df = build_labels(events_df, run_date, cfg.label_events,
                             cfg.attribution_window_hours, first_date)
    probes_df = labels_df.select(
        F.col("impression_id").alias("probe_id"), "user_id", "promotion_id",
        F.col("impression_time").alias("probe_time"), F.col("impression_date").alias("probe_date"),
        F.coalesce("position", F.lit(cfg.scoring_position)).alias("position"))
    features_df, spec, coverage = build_features(
        probes_df, events_df, promotions_df, inputs, cfg.label_events, cfg.feature_lookback_days,
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
    train_df = training_df.filter(F.col("split") == "train")
    valid_df = training_df.filter(F.col("split") == "validation")
    eval_split = "test" if cfg.test_days else "validation"
    eval_df = training_df.filter(F.col("split") == eval_split)

    # 2. model: grid on validation, calibration on validation, metrics on the evaluation split
    model, grid = fit(train_df, valid_df, spec, cfg, counts["train"][1], counts["train"][0])
    # Scored once, read by the three models' metrics (a dozen small jobs).
    scored_df = with_baselines(model.predict(eval_df), train_df).cache()
    metric_rows = list(grid_rows(grid))
    results = {}
    for name, column in ((MODEL_NAME, "p_response"), ("baseline_global_rate", "p_global"),
                         ("baseline_promotion_rate", "p_promotion")):
        results[name] = binary_metrics(scored_df, cfg.reliability_bins, p_col=column)
        metric_rows += results[name].as_rows(name, eval_split)
    scored_df.unpersist()
    for table, share in coverage.items():
        metric_rows.append({"model": MODEL_NAME, "metric": f"coverage_{table}", "value": share,
                            "split": "train+validation+test"})
    for split, (rows, positives) in sorted(counts.items()):
        metric_rows.append({"model": MODEL_NAME, "metric": "labelled_impressions", "value": rows,
                            "split": split, "params": {"positives": positives}})
    path = model_path(store.root, ctx.run_id)
    model.save(path)

    # 3. scoring
    written = write_scores(store, ctx, report, model, spec, ctx.run_id, events_df, promotions_df,
                           optional)
    # Simulated data: the written scores against the true probabilities (evaluation only).
    written_df = store.read(SCORES_TABLE, version=written.version,
                            partition_filters=[("run_date", "=", run_date)])
    metric_rows += truth_metric_rows(spark, ctx.config.landing.root, written_df, cfg.label_events,
                                     MODEL_NAME)
    if cfg.write_training_set:
        ts_written = write_run_partition(store, ctx, _training_set_rows(training_df, spec, ctx),
                                         TRAINING_SET_TABLE)
        report.outputs[TRAINING_SET_TABLE] = ts_written.version
    metrics_written = write_model_metrics(spark, store, ctx, metric_rows)
    report.outputs["model_metrics"] = metrics_written.version
    training_df.unpersist()

    model_m = results[MODEL_NAME]
    report.rows_in = sum(n for n, _ in counts.values())
    report.rows_out = written.rows_written
    report.metrics.update({
        "auc_roc": model_m.auc_roc, "auc_pr": model_m.auc_pr, "log_loss": model_m.log_loss,
        "ece": model_m.ece,
        "baseline_promotion_auc_roc": results["baseline_promotion_rate"].auc_roc,
        "baseline_promotion_log_loss": results["baseline_promotion_rate"].log_loss,
        "scored_pairs": float(written.rows_written)})
    report.notes.update({
        "model_path": path, "calibration": cfg.calibration, "eval_split": eval_split,
        "features_from": ",".join(("events", "promotions", *spec.sources)),
        "chosen_params": ",".join(f"{k}={v}" for k, v in model.params.items())})
    return report
