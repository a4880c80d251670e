"""The bandit stage: events + segments + response scores + promotions -> `bandit_arm_stats` and
`user_promotions` (both partitioned by run_date).

Reads `events` (promo events since the earliest of the arm-statistics window, the frequency-cap
window and the earliest active promotion's start; and all events of the visit window),
`promotion_scores` (its newest run on or before the run date) and `promotions` (required),
`user_segments` (optional: without it every user is scored in the 'global' context).
The logic lives beside this module: arms.py, candidates.py, choose.py, audit.py.

Nothing is published before the audit (audit.py) passes: a row that breaks a hard constraint
or an invariant stops the stage with ConstraintViolationError (exit code 3) after writing the
offending rows to `user_promotions_quarantine`; `bandit_arm_stats` and `user_promotions` keep
their last committed versions.
"""
from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys_spark.bandit.arm_stats import window_bounds
from recsys_spark.bandit.arms import arm_statistics
from recsys_spark.bandit.audit import (
    ConstraintViolationError,
    check_results,
    impression_counts,
    violation_message,
    violation_summary,
    with_violations,
)
from recsys_spark.bandit.candidates import build_candidates
from recsys_spark.bandit.choose import choose_promotions
from recsys_spark.bandit.constraints import visit_probabilities
from recsys_spark.domain.events import PROMO_EVENT_TYPES
from recsys_spark.domain.promotions import servable_promotions, spend_start, user_categories
from recsys_spark.runs import RunContext, StageReport
from recsys_spark.settings.bandit import BanditConfig
from recsys_spark.stage_io import DateWindow, Inputs, write_output
from recsys_spark.tables import TableStore

log = logging.getLogger(__name__)

ARM_STATS_TABLE = "bandit_arm_stats"
USER_PROMOTIONS_TABLE = "user_promotions"
QUARANTINE_TABLE = "user_promotions_quarantine"


def promo_events_window(promotions_df: DataFrame, run_date: dt.date, config: BanditConfig
                        ) -> DateWindow | None:
    """The event dates the stage needs promo events from (None: the whole history, when an
    active promotion has no start date and its spend must be counted from the beginning)."""
    first_spend = spend_start(promotions_df, run_date)
    if first_spend is None:
        return None
    cap_start = run_date - dt.timedelta(days=config.frequency_cap_days - 1)
    return DateWindow(min(window_bounds(run_date, config)[0], cap_start, first_spend), run_date)


def user_visit_probabilities(inputs: Inputs, scores_df: DataFrame, config: BanditConfig,
                             report: StageReport) -> DataFrame:
    """P(visit) of every scored user from the `events` partitions of the visit window (the
    window's dates come from the Delta log; only those partitions are read)."""
    window = DateWindow.ending(inputs.ctx.run_date, max(config.visit_window_days, 1))
    observed_days = len(inputs.partition_dates("events", window=window)) if config.visit_window_days else 0
    report.metrics["visit_observed_days"] = float(observed_days)
    events_df = inputs.required("events", window).select("user_id", "event_date")
    return visit_probabilities(scores_df, events_df, observed_days, config)


def targeted_user_categories(inputs: Inputs, out_df: DataFrame, servable_df: DataFrame
                             ) -> DataFrame | None:
    """user_id, categories (domain/promotions.user_categories, the response stage's targeting
    inputs: its feature lookback of `events` and the latest `user_features`) of the users given
    a targeted promotion; None when targeting is off (response.targeting = none)."""
    cfg = inputs.ctx.config.response
    if cfg.targeting != "eligible_categories":
        return None
    run_date = inputs.ctx.run_date
    targeted_df = servable_df.filter(F.size("eligible_categories") > 0).select("promotion_id")
    if targeted_df.isEmpty():  # nothing can be ineligible: no need to read the lookback's events
        return out_df.sparkSession.createDataFrame([], "user_id string, categories array<string>")
    users_df = (out_df.join(targeted_df,
                            on="promotion_id", how="left_semi").select("user_id").distinct())
    events_df = inputs.required("events", DateWindow(
        run_date - dt.timedelta(days=cfg.feature_lookback_days), run_date))
    features_df = inputs.latest_run("user_features")
    if features_df is not None:
        features_df = features_df.join(users_df, on="user_id", how="left_semi")
    return user_categories(events_df.join(users_df, on="user_id", how="left_semi"), features_df,
                           run_date)


def audit_or_stop(store: TableStore, inputs: Inputs, report: StageReport, out_df: DataFrame,
                  servable_df: DataFrame, events_df: DataFrame) -> None:
    """Audit the run's rows (audit.py) and record each check in ``report.quality``.

    Raises:
        ConstraintViolationError: a row breaks a hard constraint; the rows with their reasons
            were written to `user_promotions_quarantine` and nothing else was.
    """
    ctx, config = inputs.ctx, inputs.ctx.config.bandit
    categories_df = targeted_user_categories(inputs, out_df, servable_df)
    checked_df = with_violations(out_df, servable_df, impression_counts(events_df, ctx.run_date, config),
                                 categories_df, config, ctx.config.run.seed).localCheckpoint(eager=True)
    summary = violation_summary(checked_df)
    report.quality.update(check_results(summary, categories_df is not None, config))
    quarantined = bool(store.partition_dates(QUARANTINE_TABLE, partition_filters=[
        ("run_date", "=", ctx.run_date)]))
    if summary or quarantined:  # a passing rerun empties the day's partition of a stopped attempt
        write_output(store, ctx, report, QUARANTINE_TABLE, checked_df.filter(F.size("reasons") > 0))
    if summary:
        raise ConstraintViolationError(violation_message(summary, ctx.run_date, QUARANTINE_TABLE))


def run_bandit(spark: SparkSession, store: TableStore, ctx: RunContext,
               policy: str | None = None) -> StageReport:
    """Stage function: writes bandit_arm_stats and user_promotions for ctx.run_date.

    Returns:
        The StageReport (inputs/outputs versions, counts, constraint checks).

    Raises:
        UnknownTableError: events, promotions or promotion_scores missing.
        ConstraintViolationError: the audit found rows breaking a hard constraint (nothing
            published; the rows are in user_promotions_quarantine).
    """
    config: BanditConfig = ctx.config.bandit
    name = policy or config.policy
    report = StageReport()
    inputs = Inputs(store, ctx, report)
    promotions_df = inputs.required("promotions")  # a latest-state snapshot
    events_df = inputs.required("events", promo_events_window(promotions_df, ctx.run_date, config)
                                ).filter(F.col("event_type").isin(*PROMO_EVENT_TYPES))
    scores_df = (inputs.latest_run("promotion_scores", required=True)
                 .select("user_id", "promotion_id", "p_response").filter(F.col("p_response").isNotNull()))
    segments_df = inputs.latest_run("user_segments")
    if segments_df is not None:
        segments_df = segments_df.select("user_id", "segment_id")
    else:
        report.notes["user_segments"] = "missing: every user scored in the global context"

    arms_df, calibration = arm_statistics(events_df, scores_df, segments_df, ctx.run_date, config)
    arms_df = arms_df.localCheckpoint(eager=True)
    report.metrics["prior_calibration"] = calibration
    servable_df = servable_promotions(promotions_df, events_df, ctx.run_date).localCheckpoint(eager=True)
    visits_df = user_visit_probabilities(inputs, scores_df, config, report)
    budgets_df = servable_df.select("promotion_id", "promo_type", "remaining_budget")
    candidates_df = build_candidates(scores_df, segments_df, arms_df, budgets_df, events_df,
                                     visits_df, ctx.run_date, config)
    out_df = choose_promotions(spark, candidates_df, scores_df, config, name,
                               seed=ctx.seed("draws"), holdout_seed=ctx.config.run.seed,
                               run_date=ctx.run_date).localCheckpoint(eager=True)
    audit_or_stop(store, inputs, report, out_df, servable_df, events_df)
    arm_result = write_output(store, ctx, report, ARM_STATS_TABLE, arms_df)
    up_result = write_output(store, ctx, report, USER_PROMOTIONS_TABLE, out_df)
    summary = out_df.agg(
        F.countDistinct("user_id").alias("users"),
        F.sum(F.col("is_holdout").cast("int")).alias("holdout_users"),
        F.sum((~F.col("is_holdout")).cast("int")).alias("slots"),
        F.avg(F.when(~F.col("is_holdout"), F.col("is_exploration").cast("double"))).alias("explore"),
        F.avg(F.when(~F.col("is_holdout"), F.col("propensity"))).alias("mean_propensity")).first()
    report.rows_in = int(summary["users"] or 0)
    report.rows_out = int(up_result.rows_written)
    report.metrics.update({"users": float(summary["users"] or 0),
                           "holdout_users": float(summary["holdout_users"] or 0),
                           "slots_filled": float(summary["slots"] or 0),
                           "exploration_share": float(summary["explore"] or 0.0),
                           "mean_propensity": float(summary["mean_propensity"] or 0.0),
                           "arms": float(arm_result.rows_written)})
    report.notes["policy"] = name
    log.info("bandit %s: %s users, %s slots", name, summary["users"], summary["slots"])
    return report
