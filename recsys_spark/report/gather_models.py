"""Small pandas frames about models, the bandit, the closed loop and off-policy estimates.

Each model table is read at its latest run date on or before the report's run date (a
report for a day when only `clean` ran still shows the models in use, labelled with
their own date). Only aggregates or per-(context, arm) rows come back to the driver.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from scipy import stats

from recsys_spark.domain.models import RESPONSE_MODEL
from recsys_spark.report.model import MissingInput
from recsys_spark.report.snapshot import Snapshot
from recsys_spark.tables.model import PartitionFilter

RANKING_STAGES = ("als", "similarity")
RESPONSE_SUMMARY = ("auc_roc", "auc_pr", "log_loss", "brier", "ece", "rows", "positives")
RELIABILITY_PREFIX = "reliability_bin_"
LOOP_HINT = "recsys simulate-loop --config <config> --days N"


def _as_of(snapshot: Snapshot, table: str, run_date: dt.date, hint: str,
           partition_filters: Sequence[PartitionFilter] = (), what: str | None = None) -> DataFrame:
    """The rows of ``table``'s latest run_date partition on or before ``run_date`` (found in
    the Delta log, so only that partition is read).

    Raises:
        MissingInput: no table, or no rows on or before ``run_date``.
    """
    day = snapshot.latest_partition(table, run_date, what or table, hint, partition_filters)
    return snapshot.read(table, hint, partition_filters=[*partition_filters, ("run_date", "=", day)])


def stage_metrics(snapshot: Snapshot, run_date: dt.date, stage: str) -> pd.DataFrame:
    """model_metrics rows of ``stage`` at its latest run date <= ``run_date``, tuning trials
    (``als_trial_*``) left out.

    Returns:
        columns run_date, run_id, stage, model, split, metric, value, count, mean_predicted
        (the last two set on reliability-bin rows only), sorted by model, split, metric.

    Raises:
        MissingInput: no model_metrics table or no rows of ``stage``.
    """
    hint = f"recsys {stage} --run-date {run_date}"
    day_df = _as_of(snapshot, "model_metrics", run_date, hint, [("stage", "=", stage)],
                    f"model_metrics ({stage} stage)")
    param = F.col("params").getItem
    return (day_df.filter(~F.col("model").startswith("als_trial_"))
            .select("run_date", "run_id", "stage", "model", "split", "metric", "value",
                    param("count").try_cast("long").alias("count"),
                    param("mean_predicted").try_cast("double").alias("mean_predicted"))
            .orderBy("model", "split", "metric").toPandas())


def ranking_metrics(snapshot: Snapshot, run_date: dt.date) -> pd.DataFrame:
    """ALS and similarity metrics against their baselines as one wide frame.

    Returns:
        one row per (stage, run_date, run_id, model, split), one column per metric.

    Raises:
        MissingInput: neither stage has metrics (one missing stage is simply absent).
    """
    frames, missing = [], []
    for stage in RANKING_STAGES:
        try:
            frames.append(stage_metrics(snapshot, run_date, stage))
        except MissingInput as exc:
            missing.append(exc)
    if not frames:
        raise missing[0]
    long = pd.concat(frames, ignore_index=True)
    wide = long.pivot_table(index=["stage", "run_date", "run_id", "model", "split"],
                            columns="metric", values="value", aggfunc="first")
    wide.columns.name = None
    return wide.reset_index()


def response_metrics(snapshot: Snapshot, run_date: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The response model and its baselines: summary figures and reliability bins.

    Returns:
        (summary: one row per model with run_date, run_id, split and RESPONSE_SUMMARY columns;
         bins: model, bin, count, mean_predicted, observed_rate on the evaluation split).

    Raises:
        MissingInput: no response metrics on or before ``run_date``.
    """
    rows = stage_metrics(snapshot, run_date, "response")
    # the evaluation split is the one the AUC was measured on (test, or validation without one)
    evaluated = rows[rows["metric"].isin(RESPONSE_SUMMARY)]
    summary = evaluated.pivot_table(index=["model", "run_date", "run_id", "split"], columns="metric",
                                    values="value", aggfunc="first")
    summary = summary.reindex(columns=[m for m in RESPONSE_SUMMARY if m in summary.columns])
    summary.columns.name = None
    summary = summary.reset_index()
    # the model first, then its baselines by name
    summary = (summary.assign(_is_baseline=summary["model"] != RESPONSE_MODEL)
               .sort_values(["_is_baseline", "model"]).drop(columns="_is_baseline"))
    bins = rows[rows["metric"].str.startswith(RELIABILITY_PREFIX)
                & rows["split"].isin(set(summary["split"]))]
    bins = pd.DataFrame({
        "model": bins["model"],
        "bin": bins["metric"].str.slice(len(RELIABILITY_PREFIX)).astype(int),
        "count": bins["count"], "mean_predicted": bins["mean_predicted"],
        "observed_rate": bins["value"]}).sort_values(["model", "bin"])
    return summary.reset_index(drop=True), bins.reset_index(drop=True)


def arm_posteriors(snapshot: Snapshot, run_date: dt.date, level: float = 0.95) -> pd.DataFrame:
    """Beta posteriors of every (context, promotion) arm at the latest bandit run <= ``run_date``.

    Returns:
        columns run_date, run_id, context, promotion_id, raw_impressions, raw_rewards, alpha,
        beta, posterior_mean, ci_lower, ci_upper (the central ``level`` credible interval,
        Beta quantiles), sorted by context then posterior_mean descending.

    Raises:
        MissingInput: no bandit_arm_stats rows on or before ``run_date``.
    """
    hint = f"recsys bandit --run-date {run_date}"
    day_df = _as_of(snapshot, "bandit_arm_stats", run_date, hint)
    # one row per (context, arm): contexts x promotions, a few thousand at most
    arms = (day_df.select("run_date", "run_id", "context", "promotion_id", "raw_impressions",
                          "raw_rewards", "alpha", "beta", "posterior_mean")
            .orderBy("context", F.col("posterior_mean").desc(), "promotion_id").toPandas())
    tail = (1.0 - level) / 2.0
    arms["ci_lower"] = stats.beta.ppf(tail, arms["alpha"], arms["beta"])
    arms["ci_upper"] = stats.beta.ppf(1.0 - tail, arms["alpha"], arms["beta"])
    return arms


def loop_curves(snapshot: Snapshot) -> pd.DataFrame:
    """Closed-loop results per policy and loop day (see LOOP_CONTRACT: loop_results).

    Returns:
        columns run_id, policy, loop_day, run_date, impressions, expected_reward, regret,
        realized_rewards, cumulative_reward, cumulative_regret, sorted by policy, loop_day.

    Raises:
        MissingInput: no loop_results table, or it is empty.
    """
    out = (snapshot.read("loop_results", LOOP_HINT)
           .select("run_id", "policy", "loop_day", "run_date", "impressions", "expected_reward",
                   "regret", "realized_rewards", "cumulative_reward", "cumulative_regret")
           .orderBy("policy", "loop_day").toPandas())
    if out.empty:
        raise MissingInput("table loop_results is empty", LOOP_HINT)
    return out


def loop_summary(snapshot: Snapshot) -> pd.DataFrame:
    """One row per policy: days, impressions, reward and regret over the whole loop.

    Returns:
        columns policy, run_id, days, impressions, realized_rewards, expected_reward, regret,
        regret_per_impression, sorted by regret.

    Raises:
        MissingInput: no loop_results table, or it is empty.
    """
    out = (snapshot.read("loop_results", LOOP_HINT).groupBy("policy")
           .agg(F.max("run_id").alias("run_id"), F.count_distinct("loop_day").alias("days"),
                F.sum("impressions").alias("impressions"),
                F.sum("realized_rewards").alias("realized_rewards"),
                F.sum("expected_reward").alias("expected_reward"), F.sum("regret").alias("regret"))
           .withColumn("regret_per_impression", F.try_divide("regret", "impressions"))
           .orderBy("regret", "policy").toPandas())
    if out.empty:
        raise MissingInput("table loop_results is empty", LOOP_HINT)
    return out


def ope_estimates(snapshot: Snapshot, run_date: dt.date) -> pd.DataFrame:
    """Off-policy estimates with their bootstrap CIs at the latest run date <= ``run_date``.

    Returns:
        columns run_date, run_id, dataset, policy, estimator, estimate, ci_lower, ci_upper, n,
        true_value, sorted by dataset, policy, estimator.

    Raises:
        MissingInput: no ope_estimates rows on or before ``run_date``.
    """
    hint = f"recsys ope --source events --run-date {run_date}"
    day_df = _as_of(snapshot, "ope_estimates", run_date, hint)
    return (day_df.select("run_date", "run_id", "dataset", "policy", "estimator", "estimate",
                          "ci_lower", "ci_upper", "n", "true_value")
            .orderBy("dataset", "policy", "estimator").toPandas())


def ab_readout(snapshot: Snapshot, run_date: dt.date) -> pd.DataFrame:
    """The A/B readout at the latest run date <= ``run_date``.

    Returns:
        columns run_date, window_days, dimension, dim_value, metric, control_users,
        treated_users, control_mean, treated_mean, uplift, ci_low, ci_high, p_value, incremental,
        observed_holdout_share, srm_p_value, srm_flag, in the table's order of dimensions.

    Raises:
        MissingInput: no ab_readout rows on or before ``run_date``.
    """
    hint = f"recsys readout --run-date {run_date}"
    out = (_as_of(snapshot, "ab_readout", run_date, hint)
           .select("run_date", "window_days", "dimension", "dim_value", "metric", "control_users",
                   "treated_users", "control_mean", "treated_mean", "uplift", "ci_low", "ci_high",
                   "p_value", "incremental", "observed_holdout_share", "srm_p_value", "srm_flag")
           .orderBy(F.expr("CASE dimension WHEN 'all' THEN 0 WHEN 'segment' THEN 1 ELSE 2 END"),
                    "dim_value", "metric").toPandas())
    if out.empty:
        raise MissingInput(f"ab_readout of {run_date} has no rows (no plans in its window)", hint)
    return out


def policy_monitor_trend(snapshot: Snapshot, run_date: dt.date, days: int = 30) -> pd.DataFrame:
    """The policy monitor's overall figures (key 'all') of the ``days`` run dates up to
    ``run_date``.

    Returns:
        columns run_date, metric, value, threshold, flagged, sorted by metric, run_date.

    Raises:
        MissingInput: no policy_monitor rows in those days.
    """
    hint = f"recsys readout --run-date {run_date}"
    out = (snapshot.read("policy_monitor", hint, partition_filters=[
        ("run_date", ">", run_date - dt.timedelta(days=days)), ("run_date", "<=", run_date)])
        .filter(F.col("key") == "all")
        .select("run_date", "metric", "value", "threshold", "flagged")
        .orderBy("metric", "run_date").toPandas())
    if out.empty:
        raise MissingInput(f"policy_monitor has no rows in the {days} days up to {run_date}", hint)
    return out
