"""Logged bandit feedback for `recsys ope`: readers and the policies evaluated on it.

A logged-feedback DataFrame has one row per impression: sample_id, ts (timestamp), context,
action, position (slot, 1-based), reward (0/1 double), pscore (the logging policy's
probability of this action in this slot).

Sources:
* obd: the Open Bandit Dataset CSV layout (``,timestamp,item_id,position,click,
  propensity_score,user_feature_0..``): arms = item_id, one sample per row. Read here directly
  (a small reader) so OPE does not depend on the clean stage's adapter.
* jsonl: raw simulator events (RAW_FORMAT.md) — promo_impression rows with propensity; reward =
  the configured reward event within the attribution window (same rule as arm_stats).
* events: the warehouse's clean `events` table, same rule.

Policies are fitted on the earliest ``ope_train_fraction`` of the logs (by time) and
evaluated on the rest; all are context-free rankings of the arms (slot s = rank s):
uniform (1 / number of arms in every slot), logged (the logging policy itself: pi_e = pscore),
greedy (posterior mean), ucb (Bayes-UCB quantile), thompson (slot probabilities by Monte Carlo
over keyed posterior draws). The reward model for DM/DR is the train part's smoothed click rate
per (arm, slot).
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from recsys_spark.bandit.arm_stats import credited_impressions
from recsys_spark.bandit.propensity import thompson_propensity
from recsys_spark.bandit.sampling import beta_ppf
from recsys_spark.domain.events import PROMO_IMPRESSION
from recsys_spark.errors import RecsysError
from recsys_spark.settings.bandit import BanditConfig

OPE_POLICIES = ("uniform", "logged", "thompson", "ucb", "greedy")
LOGGED_COLUMNS = ["sample_id", "ts", "context", "action", "position", "reward", "pscore"]


class OpeInputError(RecsysError, ValueError):
    """The logs given to `recsys ope` cannot be read or hold no usable impressions."""


def dataset_name(source: str, path: str) -> str:
    """A short partition-safe name, e.g. obd_random_men for .../obd/random/men/men.csv."""
    p = Path(path)
    parts = list(p.parent.parts[-2:]) if p.suffix else list(p.parts[-2:])
    return re.sub(r"[^a-z0-9_]+", "_", "_".join([source, *parts]).lower()).strip("_")


def read_obd(spark: SparkSession, path: str) -> DataFrame:
    """Open Bandit Dataset CSVs (a file, or every CSV but item_context.csv under a folder).

    Raises:
        OpeInputError: no CSV file found.
    """
    p = Path(path)
    files = [str(p)] if p.is_file() else sorted(
        str(f) for f in p.rglob("*.csv") if f.name != "item_context.csv")
    if not files:
        raise OpeInputError(f"--input {path}: no Open Bandit Dataset CSV file found")
    raw_df = spark.read.option("header", True).csv(files)
    file_key = F.element_at(F.split(F.input_file_name(), "/"), -1)
    return raw_df.select(
        F.concat_ws(":", file_key, F.col("_c0")).alias("sample_id"),
        F.col("timestamp").try_cast("timestamp").alias("ts"),
        F.col("user_feature_0").alias("context"),
        F.col("item_id").alias("action"),
        F.col("position").try_cast("int").alias("position"),
        F.col("click").try_cast("double").alias("reward"),
        F.col("propensity_score").try_cast("double").alias("pscore"),
    ).filter(F.col("ts").isNotNull() & F.col("action").isNotNull() & F.col("position").isNotNull()
             & F.col("reward").isNotNull() & (F.col("pscore") > 0))


def logged_from_events(events_df: DataFrame, config: BanditConfig) -> DataFrame:
    """Impressions with propensities and attributed rewards, from clean-shaped events
    (event_id, event_time, event_type, user_id, promotion_id, position, propensity)."""
    known_df = events_df.filter(F.col("user_id").isNotNull() & F.col("promotion_id").isNotNull()
                                & F.col("event_time").isNotNull())
    imp_df = known_df.filter((F.col("event_type") == PROMO_IMPRESSION) & (F.col("propensity") > 0)
                             & F.col("position").isNotNull())
    rew_df = known_df.filter(F.col("event_type") == config.reward_event).select(
        "user_id", "promotion_id", F.col("event_id").alias("reward_event_id"),
        F.col("event_time").alias("reward_time"))
    credited_df = credited_impressions(
        imp_df.select("user_id", "promotion_id", "event_id", "event_time"), rew_df,
        config.attribution_window_hours)
    return (imp_df.dropDuplicates(["event_id"]).join(credited_df, on="event_id", how="left")
            .select(F.col("event_id").alias("sample_id"), F.col("event_time").alias("ts"),
                    F.col("user_id").alias("context"), F.col("promotion_id").alias("action"),
                    F.col("position").cast("int").alias("position"),
                    F.coalesce(F.col("reward"), F.lit(0)).cast("double").alias("reward"),
                    F.col("propensity").cast("double").alias("pscore")))


def read_jsonl(spark: SparkSession, path: str, config: BanditConfig) -> DataFrame:
    """Raw simulator events (gzip JSON lines, any folder depth) -> logged feedback."""
    schema = ("event_id string, event_time string, event_type string, user_id string, "
              "promotion_id string, position long, propensity double")
    raw_df = (spark.read.schema(schema).option("recursiveFileLookup", True)
              .option("mode", "PERMISSIVE").json(path))
    events_df = raw_df.withColumn("event_time", F.try_to_timestamp(F.col("event_time")))
    return logged_from_events(events_df, config)


def split_by_time(logged_df: DataFrame, train_fraction: float) -> tuple[DataFrame, DataFrame]:
    """(train, evaluation): the earliest ``train_fraction`` of samples by (ts, sample_id).

    A global ordering window (one partition) — fine for the OPE sizes here (1M rows).
    """
    n = logged_df.count()
    if n < 2:
        raise OpeInputError(f"need at least 2 logged impressions, found {n}")
    order = Window.orderBy(F.col("ts"), F.col("sample_id"))
    ranked_df = logged_df.withColumn("_rn", F.row_number().over(order)).localCheckpoint(eager=True)
    cut = max(1, min(n - 1, int(n * train_fraction)))
    return (ranked_df.filter(F.col("_rn") <= cut).drop("_rn"),
            ranked_df.filter(F.col("_rn") > cut).drop("_rn"))


def fit_arms(train_df: DataFrame, actions_df: DataFrame, config: BanditConfig) -> tuple[DataFrame, float]:
    """Beta posterior per arm from the train part (prior: the train click rate, fixed strength).

    Returns:
        (promotion_id, alpha, beta, posterior_mean for every action; the prior mean).
    """
    prior = float(train_df.agg(F.avg("reward")).first()[0] or 0.0)
    prior = min(max(prior, 1e-6), 1 - 1e-6)
    s = config.prior_strength
    counts_df = train_df.groupBy("action").agg(F.count(F.lit(1)).alias("n"), F.sum("reward").alias("r"))
    arms_df = (actions_df.join(counts_df, on="action", how="left").fillna(0, subset=["n", "r"])
               .select(F.col("action").alias("promotion_id"),
                       (F.lit(prior * s) + F.col("r")).alias("alpha"),
                       (F.lit((1 - prior) * s) + F.col("n") - F.col("r")).alias("beta")))
    return arms_df.withColumn("posterior_mean", F.col("alpha") / (F.col("alpha") + F.col("beta"))), prior


def action_distribution(policy: str, train_df: DataFrame, eval_df: DataFrame, actions_df: DataFrame,
                        slots: int, config: BanditConfig, seed: int) -> DataFrame:
    """The evaluated policy's slot probabilities: position, action, prob.

    Raises:
        OpeInputError: unknown policy.
    """
    if policy == "uniform":
        n_arms = actions_df.count()
        return (actions_df.crossJoin(eval_df.select("position").distinct())
                .select("position", "action", F.lit(1.0 / n_arms).alias("prob")))
    if policy == "logged":
        # Only used by DM: the logging policy's empirical slot distribution in the evaluated part.
        per_pos = Window.partitionBy("position")
        return (eval_df.groupBy("position", "action").agg(F.count(F.lit(1)).alias("c"))
                .select("position", "action", (F.col("c") / F.sum("c").over(per_pos)).alias("prob")))
    arms_df, _ = fit_arms(train_df, actions_df, config)
    if policy == "thompson":
        pool_df = arms_df.select(F.lit("ope").alias("user_id"), "promotion_id", "alpha", "beta",
                                 "posterior_mean", F.col("promotion_id").alias("promo_type"),
                                 F.lit(1.0).alias("lift"))
        n_arms = actions_df.count()
        mc_config = dataclasses.replace(config, slots_per_user=slots, one_per_promo_type=False,
                                        propensity_max_candidates=max(n_arms, slots))
        chosen_df = pool_df.select("user_id", "promotion_id").limit(0)
        mc_df = thompson_propensity(pool_df, chosen_df, mc_config, seed, "ope",
                                    draws=max(config.propensity_draws, 1000))
        return mc_df.select(F.col("slot").alias("position"), F.col("promotion_id").alias("action"),
                            F.col("propensity").alias("prob"))
    if policy in ("greedy", "ucb"):
        score = (F.col("posterior_mean") if policy == "greedy"
                 else beta_ppf(F.lit(config.ucb_quantile), F.col("alpha"), F.col("beta")))
        ranked_df = arms_df.withColumn("_score", score).withColumn(
            "position", F.row_number().over(Window.orderBy(F.col("_score").desc(), F.col("promotion_id"))))
        return ranked_df.filter(F.col("position") <= slots).select(
            F.col("position").cast("int").alias("position"), F.col("promotion_id").alias("action"),
            F.lit(1.0).alias("prob"))
    raise OpeInputError(f"--policy {policy!r}: choose from {', '.join(OPE_POLICIES)}")


@dataclass(frozen=True)
class Evaluation:
    """What evaluating one policy needs: the samples (estimator input, plus context, action,
    position) and the policy's slot distribution (position, action, prob)."""

    samples_df: DataFrame
    dist_df: DataFrame


def evaluation_samples(policy: str, logged_df: DataFrame, config: BanditConfig, seed: int) -> DataFrame:
    """The evaluated part of the logs with pi_e, q_hat and dm_value (input of
    ope.estimate_policy_value), plus context, action and position."""
    return evaluation(policy, logged_df, config, seed).samples_df


def evaluation(policy: str, logged_df: DataFrame, config: BanditConfig, seed: int) -> Evaluation:
    """The evaluation samples and the policy's slot distribution (see Evaluation).

    Raises:
        OpeInputError: fewer than 2 logged impressions, or an unknown policy.
    """
    train_df, eval_df = split_by_time(logged_df, config.ope_train_fraction)
    actions_df = logged_df.select("action").distinct()
    slots = int(logged_df.agg(F.max("position")).first()[0])
    # Small (positions x arms) and read up to three times (estimators, DM, true value): computed
    # once — Thompson's is a Monte Carlo over keyed draws.
    dist_df = action_distribution(policy, train_df, eval_df, actions_df, slots, config,
                                  seed).localCheckpoint(eager=True)
    # Reward model: smoothed click rate per (arm, slot) on the train part.
    prior = float(train_df.agg(F.avg("reward")).first()[0] or 0.0)
    s = config.prior_strength
    q_df = (train_df.groupBy("action", "position").agg(
        ((F.sum("reward") + F.lit(prior * s)) / (F.count(F.lit(1)) + F.lit(s))).alias("q_hat")))
    dm_df = (dist_df.join(q_df, on=["action", "position"], how="left")
             .groupBy("position").agg(F.sum(F.col("prob") * F.coalesce(F.col("q_hat"), F.lit(prior)))
                                      .alias("dm_value")))
    samples_df = (eval_df.join(dist_df, on=["position", "action"], how="left")
                  .join(q_df, on=["action", "position"], how="left")
                  .join(dm_df, on="position", how="left"))
    pi_e = F.col("pscore") if policy == "logged" else F.coalesce(F.col("prob"), F.lit(0.0))
    return Evaluation(
        samples_df.select("sample_id", "reward", "pscore", pi_e.alias("pi_e"),
                          F.coalesce(F.col("q_hat"), F.lit(prior)).alias("q_hat"),
                          F.coalesce(F.col("dm_value"), F.lit(0.0)).alias("dm_value"),
                          "context", "action", "position"),
        dist_df)
