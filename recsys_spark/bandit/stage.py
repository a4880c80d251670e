"""The bandit stage: events + segments + response scores + promotions -> `bandit_arm_stats`,
`user_promotions` (partitioned by run_date) and the `user_promotions_current` view.

Reads (through the TableStore): `events` (promo_impression / reward events / promo_redeem),
`promotion_scores` and `promotions` (required), `user_segments` (optional: without it every
user is scored in the 'global' context). Per-run inputs (promotion_scores, user_segments) are
read at their latest run_date <= this run date.
"""
from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from recsys_spark.bandit.arm_stats import GLOBAL_CONTEXT, context_counts, rewarded_impressions, window_bounds
from recsys_spark.bandit.constraints import (
    ASSIGNED,
    REJECTED,
    allocate_budget,
    eligible_promotions,
    filter_frequency_capped,
    holdout_flag,
    visit_probabilities,
)
from recsys_spark.bandit.policies import with_lift, with_policy_scores
from recsys_spark.bandit.priors import context_means, posteriors, prior_calibration
from recsys_spark.bandit.propensity import with_propensity
from recsys_spark.errors import UnknownTableError
from recsys_spark.features.inputs import event_date_window
from recsys_spark.runs import RunContext, StageReport
from recsys_spark.schemas.bandit import BANDIT_ARM_STATS, USER_PROMOTIONS
from recsys_spark.settings.bandit import BanditConfig
from recsys_spark.stage_runner import write_run_partition
from recsys_spark.tables import TableStore

log = logging.getLogger(__name__)

ARM_STATS_TABLE = "bandit_arm_stats"
USER_PROMOTIONS_TABLE = "user_promotions"
CURRENT_VIEW = "user_promotions_current"


def conform(df: DataFrame, schema: StructType) -> DataFrame:
    """The columns of ``schema`` in its order and types (the table contract)."""
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


def arm_statistics(events_df: DataFrame, scores_df: DataFrame, segments_df: DataFrame | None,
                   run_date: dt.date, config: BanditConfig) -> tuple[DataFrame, float]:
    """Posteriors per (context, promotion) (see priors.py) with the window columns, and the
    calibration k applied to the response model's means."""
    # Both inputs are small (contexts x promotions) but cost a pass over all scores / impressions;
    # posteriors() reads them several times (self-joins), so they are materialized once here.
    counts_df = context_counts(rewarded_impressions(events_df, run_date, config),
                               segments_df).localCheckpoint(eager=True)
    means_df = context_means(scores_df, segments_df).localCheckpoint(eager=True)
    start, end = window_bounds(run_date, config)
    calibration = prior_calibration(means_df, counts_df, config)
    return (posteriors(means_df, counts_df, config, calibration)
            .withColumn("window_start", F.lit(start)).withColumn("window_end", F.lit(end))), calibration


def build_candidates(scores_df: DataFrame, segments_df: DataFrame | None, arms_df: DataFrame,
                     eligible_df: DataFrame, events_df: DataFrame, visits_df: DataFrame,
                     run_date: dt.date, config: BanditConfig) -> DataFrame:
    """One row per (user, eligible promotion) with the context's posterior and the user's lift.

    Args:
        visits_df: user_id, p_visit (constraints.visit_probabilities); a user missing there
            counts as visiting (p_visit 1).

    Returns:
        user_id, promotion_id, promo_type, remaining_budget, p_response, context, alpha, beta,
        posterior_mean, segment_mean_p, context_pseudo_count, lift, expected_response, p_visit,
        expected_redemptions (= expected_response x p_visit, what the budget counts).
    """
    pseudo_df = arms_df.groupBy("context").agg(F.sum(F.col("alpha") + F.col("beta"))
                                               .alias("context_pseudo_count"))
    df = scores_df.select("user_id", "promotion_id", "p_response").join(eligible_df, on="promotion_id",
                                                                         how="inner")
    if segments_df is not None:
        df = df.join(segments_df.select("user_id", "segment_id"), on="user_id", how="left")
        df = df.withColumn("context", F.coalesce(F.col("segment_id"), F.lit(GLOBAL_CONTEXT)))
    else:
        df = df.withColumn("context", F.lit(GLOBAL_CONTEXT))
    arm_cols = arms_df.select("context", "promotion_id", "alpha", "beta", "posterior_mean",
                              "segment_mean_p")
    df = (df.join(arm_cols, on=["context", "promotion_id"], how="inner")
          .join(pseudo_df, on="context", how="inner"))
    df = filter_frequency_capped(df, events_df, run_date, config)
    df = with_lift(df, config).join(visits_df, on="user_id", how="left")
    return (df.withColumn("p_visit", F.coalesce(F.col("p_visit"), F.lit(1.0)))
            .withColumn("expected_redemptions", F.col("expected_response") * F.col("p_visit")))


def choose_promotions(spark: SparkSession, candidates_df: DataFrame, users_df: DataFrame,
                      config: BanditConfig, policy: str, seed: int, holdout_seed: int,
                      run_date: dt.date) -> DataFrame:
    """The per-user promotion rows (without run_id/run_date).

    Args:
        candidates_df: from :func:`build_candidates`.
        users_df: user_id of every scored user (holdout users get their single row from here).
        seed: the run's seed (keys every draw with the run date).
        holdout_seed: the stable seed of the control group (no run date).

    Returns:
        user_id, rank, promotion_id, policy, score, expected_response, propensity,
        is_exploration, is_holdout, expected_redemptions (not in the table: the budget check's).
    """
    day = run_date.isoformat()
    users_df = users_df.select("user_id").distinct().withColumn(
        "is_holdout", holdout_flag(holdout_seed) < F.lit(config.holdout_share))
    active_df = candidates_df.join(users_df.filter(~F.col("is_holdout")).select("user_id"),
                                   on="user_id", how="inner")
    # Materialize the scored candidates once: the draws feed the allocation rounds and the
    # propensities, and recomputing the pandas UDF each time would be wasted work.
    scored_df = with_policy_scores(active_df, config, seed, day, policy).localCheckpoint(eager=True)
    alloc_df = allocate_budget(scored_df, config)
    pool_df = alloc_df.filter(F.col("status") != REJECTED)
    rank_w = Window.partitionBy("user_id").orderBy(F.col("score").desc(), F.col("promotion_id"))
    chosen_df = (alloc_df.filter(F.col("status") == ASSIGNED)
                 .withColumn("slot", F.row_number().over(rank_w).cast("int")))
    chosen_df = with_propensity(chosen_df, pool_df, config, policy, seed, day)
    picks_df = chosen_df.select(
        "user_id", F.col("slot").alias("rank"), "promotion_id", F.lit(policy).alias("policy"),
        "score", "expected_response", "propensity", "is_exploration", F.lit(False).alias("is_holdout"),
        "expected_redemptions")
    holdout_df = users_df.filter(F.col("is_holdout")).select(
        "user_id", F.lit(0).alias("rank"), F.lit(None).cast("string").alias("promotion_id"),
        F.lit(policy).alias("policy"), F.lit(None).cast("double").alias("score"),
        F.lit(None).cast("double").alias("expected_response"), F.lit(1.0).alias("propensity"),
        F.lit(False).alias("is_exploration"), F.lit(True).alias("is_holdout"),
        F.lit(None).cast("double").alias("expected_redemptions"))
    return picks_df.unionByName(holdout_df)


def constraint_checks(out_df: DataFrame, eligible_df: DataFrame, config: BanditConfig) -> dict[str, str]:
    """Post-conditions on the output, from two small aggregates: pass / fail: why."""
    meta_df = out_df.filter(~F.col("is_holdout")).join(eligible_df, on="promotion_id", how="left")
    users = meta_df.groupBy("user_id").agg(
        F.count(F.lit(1)).alias("n"), F.countDistinct("promotion_id").alias("d"),
        F.countDistinct("promo_type").alias("t")).agg(
        F.max("n").alias("max_n"),
        F.sum(F.when(F.col("n") != F.col("d"), 1).otherwise(0)).alias("dups"),
        F.sum(F.when(F.col("n") != F.col("t"), 1).otherwise(0)).alias("type_dups")).first()
    over = (meta_df.groupBy("promotion_id", "remaining_budget")
            .agg(F.sum("expected_redemptions").alias("spent"))
            .filter((F.col("spent") > F.col("remaining_budget") + 1e-6)
                    | F.col("remaining_budget").isNull()).count())
    checks = {
        "slots_per_user": "pass" if (users["max_n"] or 0) <= config.slots_per_user
        else f"fail: a user has {users['max_n']} rows",
        "no_duplicate_promotion": "pass" if not users["dups"] else f"fail: {users['dups']} users",
        "budget": "pass" if over == 0 else f"fail: {over} promotions over budget or ineligible"}
    if config.one_per_promo_type:
        checks["one_per_promo_type"] = ("pass" if not users["type_dups"]
                                        else f"fail: {users['type_dups']} users")
    return checks


def register_current_view(spark: SparkSession, store: TableStore) -> DataFrame:
    """Registers the temp view `user_promotions_current` (latest run_date) and returns it.

    Raises:
        UnknownTableError: `user_promotions` does not exist yet (run `recsys bandit` first).
    """
    # The newest run_date comes from the Delta log; only that partition is read.
    current_df = store.read_latest_run(USER_PROMOTIONS_TABLE, dt.date.max)
    if current_df is None:
        raise UnknownTableError(f"{USER_PROMOTIONS_TABLE!r} does not exist or is empty in {store.root}; "
                                "run `recsys bandit` first")
    current_df.createOrReplaceTempView(CURRENT_VIEW)
    return current_df


def user_visit_probabilities(store: TableStore, scores_df: DataFrame, run_date: dt.date,
                             config: BanditConfig, report: StageReport) -> DataFrame:
    """P(visit) of every scored user from the `events` partitions of the visit window (the
    window's dates come from the Delta log; only those partitions are read)."""
    window = event_date_window(run_date, max(config.visit_window_days, 1))
    observed_days = (len(store.partition_dates("events", "event_date", partition_filters=window))
                     if config.visit_window_days else 0)
    report.metrics["visit_observed_days"] = float(observed_days)
    events_df = store.read("events", partition_filters=window).select("user_id", "event_date")
    return visit_probabilities(scores_df, events_df, observed_days, config)


def _read_required(store: TableStore, table: str, stage: str) -> DataFrame:
    try:
        return store.read(table)
    except UnknownTableError:
        raise UnknownTableError(f"bandit: input table {table!r} does not exist in "
                                f"{store.root}; run `recsys {stage}` first") from None


def _read_latest_run_required(store: TableStore, table: str, stage: str, run_date: dt.date) -> DataFrame:
    """The newest run partition <= run_date of a per-run input (only that partition is read)."""
    if not store.exists(table):
        _read_required(store, table, stage)  # raises the "run `recsys <stage>` first" error
    df = store.read_latest_run(table, run_date)
    if df is None:
        raise UnknownTableError(f"bandit: input table {table!r} has no run on or before {run_date}; "
                                f"run `recsys {stage} --run-date {run_date}` first")
    return df


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
    events_df = _read_required(store, "events", "clean").filter(
        F.col("event_type").isin("promo_impression", "promo_click", "promo_redeem")
        & (F.col("event_date") <= F.lit(ctx.run_date)))
    promotions_df = _read_required(store, "promotions", "clean")  # a latest-state snapshot
    scores_df = _read_latest_run_required(store, "promotion_scores", "response", ctx.run_date)
    segments_df = store.read_latest_run("user_segments", ctx.run_date)
    if segments_df is not None:
        segments_df = segments_df.select("user_id", "segment_id")
        report.inputs["user_segments"] = store.version("user_segments")
    else:
        report.notes["user_segments"] = "missing: every user scored in the global context"
    for table in ("events", "promotions", "promotion_scores"):
        report.inputs[table] = store.version(table)
    scores_df = scores_df.select("user_id", "promotion_id", "p_response").filter(
        F.col("p_response").isNotNull())

    arms_df, calibration = arm_statistics(events_df, scores_df, segments_df, ctx.run_date, config)
    arms_df = arms_df.localCheckpoint(eager=True)
    report.metrics["prior_calibration"] = calibration
    arm_result = write_run_partition(store, ctx, conform(arms_df.withColumns({
        "run_id": F.lit(ctx.run_id), "run_date": F.lit(ctx.run_date)}), BANDIT_ARM_STATS),
        ARM_STATS_TABLE)
    eligible_df = eligible_promotions(promotions_df, events_df, ctx.run_date).localCheckpoint(eager=True)
    visits_df = user_visit_probabilities(store, scores_df, ctx.run_date, config, report)
    candidates_df = build_candidates(scores_df, segments_df, arms_df, eligible_df, events_df,
                                     visits_df, ctx.run_date, config)
    out_df = choose_promotions(spark, candidates_df, scores_df, config, name,
                               seed=ctx.seed("draws"), holdout_seed=ctx.config.run.seed,
                               run_date=ctx.run_date).localCheckpoint(eager=True)
    report.quality.update(constraint_checks(out_df, eligible_df, config))
    up_result = write_run_partition(store, ctx, conform(out_df.withColumns({
        "run_id": F.lit(ctx.run_id), "run_date": F.lit(ctx.run_date)}), USER_PROMOTIONS),
        USER_PROMOTIONS_TABLE)
    register_current_view(spark, store)
    summary = out_df.agg(
        F.countDistinct("user_id").alias("users"),
        F.sum(F.col("is_holdout").cast("int")).alias("holdout_users"),
        F.sum((~F.col("is_holdout")).cast("int")).alias("slots"),
        F.avg(F.when(~F.col("is_holdout"), F.col("is_exploration").cast("double"))).alias("explore"),
        F.avg(F.when(~F.col("is_holdout"), F.col("propensity"))).alias("mean_propensity")).first()
    report.outputs = {ARM_STATS_TABLE: arm_result.version, USER_PROMOTIONS_TABLE: up_result.version}
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
