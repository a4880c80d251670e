"""The bandit stage: events + segments + response scores + promotions -> `bandit_arm_stats` and
`user_promotions` (both partitioned by run_date).

Reads `events` (promo events since the earliest of the arm-statistics window, the frequency-cap
window and the earliest active promotion's start; and all events of the visit window),
`promotion_scores` (its newest run on or before the run date) and `promotions` (required),
`user_segments` (optional: without it every user is scored in the 'global' context).
The logic lives beside this module: arms.py, candidates.py, choose.py, audit.py.
"""
from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys_spark.bandit.arm_stats import window_bounds
from recsys_spark.bandit.arms import arm_statistics
from recsys_spark.bandit.audit import constraint_checks
from recsys_spark.bandit.candidates import build_candidates
from recsys_spark.bandit.choose import choose_promotions
from recsys_spark.bandit.constraints import visit_probabilities
from recsys_spark.domain.events import PROMO_EVENT_TYPES
from recsys_spark.domain.promotions import servable_promotions, spend_start
from recsys_spark.runs import RunContext, StageReport
from recsys_spark.settings.bandit import BanditConfig
from recsys_spark.stage_io import DateWindow, Inputs, write_output
from recsys_spark.tables import TableStore

log = logging.getLogger(__name__)

ARM_STATS_TABLE = "bandit_arm_stats"
USER_PROMOTIONS_TABLE = "user_promotions"


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


def run_bandit(spark: SparkSession, store: TableStore, ctx: RunContext,
               policy: str | None = None) -> StageReport:
    """Stage function: writes bandit_arm_stats and user_promotions for ctx.run_date.

    Returns:
        The StageReport (inputs/outputs versions, counts, constraint checks).

    Raises:
        UnknownTableError: events, promotions or promotion_scores missing.
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
    arm_result = write_output(store, ctx, report, ARM_STATS_TABLE, arms_df)
    servable_df = servable_promotions(promotions_df, events_df, ctx.run_date).localCheckpoint(eager=True)
    visits_df = user_visit_probabilities(inputs, scores_df, config, report)
    budgets_df = servable_df.select("promotion_id", "promo_type", "remaining_budget")
    candidates_df = build_candidates(scores_df, segments_df, arms_df, budgets_df, events_df,
                                     visits_df, ctx.run_date, config)
    out_df = choose_promotions(spark, candidates_df, scores_df, config, name,
                               seed=ctx.seed("draws"), holdout_seed=ctx.config.run.seed,
                               run_date=ctx.run_date).localCheckpoint(eager=True)
    report.quality.update(constraint_checks(out_df, servable_df, config))
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
