"""Stage `readout`: the A/B readout of the promotion policy over a window -> `ab_readout`, and
the monitor of the run date's plan -> `policy_monitor`.

Reads `user_promotions` (plans of run dates D-W .. D), `events` (D-W+1 .. D, and promo events
since the budgets' spend start), `promotions`, the latest `user_segments` (optional),
`promotion_scores` of the plans' run dates and the response model's `model_metrics` (both
optional: without them no calibration figures). The logic is in measure.py, stats.py and
monitor.py. A window without plans or without a control group writes an empty readout and says
why in the run's notes.
"""
from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from recsys_spark.bandit.audit import impression_counts
from recsys_spark.domain.events import PROMO_EVENT_TYPES, PROMO_REDEEM
from recsys_spark.domain.models import RESPONSE_MODEL
from recsys_spark.domain.promotions import servable_promotions, spend_start
from recsys_spark.readout import monitor
from recsys_spark.readout.measure import (
    experiment_users,
    group_statistics,
    readout_rows,
    user_outcomes,
)
from recsys_spark.runs import RunContext, StageReport
from recsys_spark.schemas.readout import AB_READOUT, POLICY_MONITOR
from recsys_spark.stage_io import DateWindow, Inputs, write_output
from recsys_spark.tables import TableStore

log = logging.getLogger(__name__)

AB_READOUT_TABLE = "ab_readout"
POLICY_MONITOR_TABLE = "policy_monitor"
_MONITOR_SCHEMA = StructType([f for f in POLICY_MONITOR.fields if f.name not in ("run_id", "run_date")])
_ROW_SCHEMA = StructType([f for f in AB_READOUT.fields if f.name not in ("window_days", "run_id",
                                                                         "run_date")])


def windows(run_date: dt.date, window_days: int) -> tuple[DateWindow, DateWindow]:
    """(plan run dates D-W .. D-1, outcome event dates D-W+1 .. D)."""
    return (DateWindow(run_date - dt.timedelta(days=window_days), run_date - dt.timedelta(days=1)),
            DateWindow.ending(run_date, window_days))


def policy_monitor(inputs: Inputs, all_plans_df: DataFrame, window_plans_df: DataFrame,
                   promotions_df: DataFrame, window_days: int) -> list[dict]:
    """The monitor's rows for the run date's plan (monitor.py)."""
    ctx, cfg = inputs.ctx, inputs.ctx.config.bandit
    run_date = ctx.run_date
    plan_df = all_plans_df.filter(F.col("run_date") == F.lit(run_date))
    previous = window_plans_df.agg(F.max("run_date").alias("d")).first()["d"]
    shares = monitor.promotion_shares(plan_df)
    figures: dict[tuple[str, str], float | None] = {
        ("exploration_rate", "all"): monitor.exploration_rate(plan_df),
        ("promotion_mix_psi", "all"): monitor.psi(shares, monitor.promotion_shares(
            window_plans_df.filter(F.col("run_date") == F.lit(previous))) if previous else {}),
        **{("promotion_share", p): share for p, share in shares.items()},
    }
    first_spend = spend_start(promotions_df, run_date)
    cap_start = run_date - dt.timedelta(days=cfg.frequency_cap_days - 1)
    starts = [cap_start, run_date - dt.timedelta(days=window_days - 1)]
    promo_window = (DateWindow(min(starts + [first_spend]), run_date) if first_spend else None)
    promo_events_df = inputs.required("events", promo_window).filter(
        F.col("event_type").isin(*PROMO_EVENT_TYPES))
    servable_df = servable_promotions(promotions_df, promo_events_df, run_date)
    window_redeems_df = promo_events_df.filter(
        (F.col("event_type") == PROMO_REDEEM)
        & (F.col("event_date") > F.lit(run_date - dt.timedelta(days=window_days))))
    for promo, burn, days_left in monitor.budget_burn(window_redeems_df, servable_df, window_days):
        figures[("budget_burn_rate", promo)] = burn
        figures[("days_of_budget_left", promo)] = days_left
    figures[("frequency_cap_share", "all")] = monitor.frequency_cap_share(
        plan_df, impression_counts(promo_events_df, run_date, cfg), cfg)
    scores_df = inputs.optional("promotion_scores", DateWindow(run_date - dt.timedelta(days=window_days),
                                                               run_date - dt.timedelta(days=1)))
    live = (monitor.live_ece(window_plans_df, scores_df, promo_events_df, run_date)
            if scores_df is not None else None)
    trained = training_ece(inputs)
    figures.update({("ece_live", "all"): live, ("ece_at_training", "all"): trained,
                    ("ece_drift", "all"): None if live is None or trained is None else live - trained})
    return monitor.monitor_rows(figures, cfg)


def training_ece(inputs: Inputs) -> float | None:
    """ECE of the response model on its test split at its newest training on or before the run
    date (model_metrics), or None."""
    metrics_df = inputs.optional("model_metrics")
    if metrics_df is None:
        return None
    row = (metrics_df.filter((F.col("stage") == "response") & (F.col("model") == RESPONSE_MODEL)
                             & (F.col("metric") == "ece") & (F.col("split") == "test")
                             & (F.col("run_date") <= F.lit(inputs.ctx.run_date)))
           .orderBy(F.col("run_date").desc()).select("value").first())
    return None if row is None or row["value"] is None else float(row["value"])


def run_readout(spark: SparkSession, store: TableStore, ctx: RunContext,
                window_days: int | None = None) -> StageReport:
    """Stage function: writes this run date's `ab_readout` partition.

    Raises:
        UnknownTableError: user_promotions, events or promotions missing.
    """
    cfg = ctx.config.bandit
    days = window_days or cfg.readout_window_days
    report = StageReport()
    inputs = Inputs(store, ctx, report)
    plan_window, outcome_window = windows(ctx.run_date, days)
    all_plans_df = inputs.required("user_promotions", DateWindow(plan_window.start, ctx.run_date))
    plans_df = all_plans_df.filter(F.col("run_date") <= F.lit(plan_window.end))
    users_df = experiment_users(plans_df.select("user_id", "is_holdout")).localCheckpoint(eager=True)
    events_df = inputs.required("events", outcome_window).select(
        "user_id", "event_type", "promotion_id", "price", "quantity")
    segments_df = inputs.latest_run("user_segments")
    promotions_df = inputs.required("promotions")
    outcomes_df = user_outcomes(users_df, events_df, promotions_df, segments_df)
    stats = [r.asDict() for r in group_statistics(outcomes_df).collect()]
    rows = readout_rows(stats, cfg.holdout_share, cfg.readout_confidence, cfg.readout_srm_alpha)
    if not rows:
        report.notes["readout"] = f"no plans in user_promotions for {plan_window.start}..{plan_window.end}"
    elif not any(r["control_users"] for r in rows):
        report.notes["readout"] = "no holdout users in the window (bandit.holdout_share = 0?)"
    out_df = (spark.createDataFrame(rows, _ROW_SCHEMA) if rows
              else spark.createDataFrame([], _ROW_SCHEMA)).withColumn("window_days", F.lit(days))
    write_output(store, ctx, report, AB_READOUT_TABLE, out_df)
    overall = {r["metric"]: r for r in rows if r["dimension"] == "all"}
    report.metrics.update({
        "window_days": days,
        "control_users": overall.get("response_rate", {}).get("control_users", 0),
        "treated_users": overall.get("response_rate", {}).get("treated_users", 0),
        **{f"uplift.{m}": r["uplift"] for m, r in overall.items()},
        **{f"p_value.{m}": r["p_value"] for m, r in overall.items()},
    })
    monitor_rows = policy_monitor(inputs, all_plans_df, plans_df, promotions_df, days)
    write_output(store, ctx, report, POLICY_MONITOR_TABLE,
                 spark.createDataFrame(monitor_rows, _MONITOR_SCHEMA))
    flagged = [f"{r['metric']}[{r['key']}] {r['value']:.4g} > {r['threshold']}"
               for r in monitor_rows if r["flagged"]]
    report.metrics["monitor_flags"] = len(flagged)
    if flagged:
        report.notes["policy_monitor"] = "flagged: " + "; ".join(flagged)
    srm = overall.get("response_rate", {}).get("srm_flag")
    report.quality["sample_ratio"] = ("fail: holdout share "
                                      f"{overall['response_rate']['observed_holdout_share']:.4f} vs "
                                      f"{cfg.holdout_share} (p {overall['response_rate']['srm_p_value']:.2g})"
                                      if srm else "pass")
    return report
