"""Propensities: the probability the policy puts this promotion in this slot for this user.

All are computed over the user's candidates that survived the budget allocation (the budget
outcome of this run is taken as given; only the user-local choice is random):

* greedy, ucb1, bayes_ucb: deterministic given the data -> 1.0.
* random: the type winner is uniform within its type (1 / n_type) and the winners are ordered
  uniformly (1 / n_types for every slot <= min(N, n_types)), so P = 1 / (n_type * n_types).
  Without the one-per-type rule every candidate is its own type: P = 1 / n_candidates.
* epsilon_greedy: (1 - epsilon) * [greedy puts it in this slot] + epsilon * P_random.
* thompson: Monte Carlo. For draws k = 1..K (independent of the live draw 0) every candidate gets
  theta_k ~ Beta(alpha, beta), the same per-user selection runs per (user, k), and the
  propensity is the share of draws that put this promotion in this slot (floored at 1 / (2K) so
  IPS weights stay finite). The draws and selections run in numpy on batches of whole users
  (thompson_mc.py; grouped by a hash bucket of user_id). Cost: users x candidates x K values
  (2e9 for 1M users x 20 x 100, ~50-100 ns each), so each user's MC is bounded to its
  ``propensity_max_candidates`` best candidates by an optimistic bound lift * (mean + 3 sd) (the
  chosen ones always included); a candidate outside that set would almost never win a slot,
  which is the approximation.
"""
from __future__ import annotations

from collections.abc import Callable

import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from recsys_spark.bandit.policies import select_slots
from recsys_spark.bandit.thompson_mc import HITS_SCHEMA, slot_hits
from recsys_spark.settings.bandit import BanditConfig

_KEY = ["user_id", "promotion_id", "slot"]
DETERMINISTIC_POLICIES = ("greedy", "ucb1", "bayes_ucb")
# Users are grouped by a hash of user_id into this many buckets, one numpy call per bucket: few
# enough that the per-call overhead is small, many enough that a bucket fits a Python worker
# (slot_hits processes a bucket in chunks of bounded size anyway).
MC_USER_BUCKETS = 1024


def with_greedy_slot(pool_df: DataFrame, config: BanditConfig) -> DataFrame:
    """Adds ``greedy_slot`` (null when greedy would not show the promotion) over the pool."""
    greedy_df = select_slots(pool_df.withColumn("_g", F.col("lift") * F.col("posterior_mean")),
                             ["user_id"], config.slots_per_user, config.one_per_promo_type,
                             score_col="_g", type_score_col="_g")
    return pool_df.join(greedy_df.select("user_id", "promotion_id", F.col("slot").alias("greedy_slot")),
                        on=["user_id", "promotion_id"], how="left")


def random_propensity(pool_df: DataFrame, config: BanditConfig) -> DataFrame:
    """user_id, promotion_id, p_random, reach: P(the random policy puts the candidate in any given
    slot s <= reach), reach = the slots the user's pool can fill (min(N, promo types) with the
    one-per-type rule, else min(N, candidates)); P = 0 in slots beyond reach."""
    user_w = Window.partitionBy("user_id")
    if config.one_per_promo_type:
        n_type = F.count(F.lit(1)).over(Window.partitionBy("user_id", "promo_type"))
        # countDistinct is no window function: the number of types is the densest type rank.
        type_rank = F.dense_rank().over(user_w.orderBy(F.col("promo_type").asc_nulls_first()))
        ranked_df = pool_df.withColumn("_n_type", n_type).withColumn("_type_rank", type_rank)
        return ranked_df.select(
            "user_id", "promotion_id",
            (1.0 / (F.col("_n_type") * F.max("_type_rank").over(user_w))).alias("p_random"),
            F.least(F.max("_type_rank").over(user_w), F.lit(config.slots_per_user)).alias("reach"))
    n = F.count(F.lit(1)).over(user_w)
    return pool_df.select("user_id", "promotion_id", (1.0 / n).alias("p_random"),
                          F.least(n, F.lit(config.slots_per_user)).alias("reach"))


def _epsilon_mix(config: BanditConfig) -> Column:
    """epsilon_greedy's P: (1 - epsilon) [greedy puts it in this slot] + epsilon P_random (needs
    greedy_slot, slot, p_random)."""
    greedy_here = F.coalesce(F.col("greedy_slot") == F.col("slot"), F.lit(False)).cast("double")
    return (1 - F.lit(config.epsilon)) * greedy_here + F.lit(config.epsilon) * F.col("p_random")


def thompson_propensity(pool_df: DataFrame, chosen_df: DataFrame, config: BanditConfig, seed: int,
                        run_date: str, draws: int | None = None) -> DataFrame:
    """Monte Carlo slot probabilities of Thompson sampling.

    Args:
        pool_df: the user's candidates (user_id, promotion_id, promo_type, lift, alpha, beta,
            posterior_mean).
        chosen_df: user_id, promotion_id of the live choice (always kept in the MC pool).
        draws: K (default config.propensity_draws).

    Returns:
        user_id, promotion_id, slot, propensity for every (candidate, slot) seen in some draw.
    """
    k = draws or config.propensity_draws
    sd = F.sqrt(F.col("alpha") * F.col("beta")
                / (F.pow(F.col("alpha") + F.col("beta"), 2) * (F.col("alpha") + F.col("beta") + 1)))
    bound_w = Window.partitionBy("user_id").orderBy(
        (F.col("lift") * (F.col("posterior_mean") + 3 * sd)).desc(), F.col("promotion_id"))
    chosen_keys_df = chosen_df.select("user_id", "promotion_id", F.lit(True).alias("_chosen"))
    bounded_df = (pool_df.join(chosen_keys_df, on=["user_id", "promotion_id"], how="left")
                  .withColumn("_b", F.row_number().over(bound_w))
                  .filter((F.col("_b") <= config.propensity_max_candidates)
                          | F.coalesce(F.col("_chosen"), F.lit(False))))
    mc_input_df = bounded_df.select(
        "user_id", "promotion_id", "promo_type", "lift", "alpha", "beta",
        F.xxhash64(F.lit(int(seed)), F.lit(str(run_date)), F.col("user_id"), F.col("promotion_id"),
                   F.lit("ts-mc")).alias("draw_key"),
        F.pmod(F.xxhash64(F.col("user_id")), F.lit(MC_USER_BUCKETS)).alias("_bucket"))
    count_hits = _bucket_hits(k, config.slots_per_user, config.one_per_promo_type)
    hits_df = mc_input_df.groupBy("_bucket").applyInPandas(count_hits, HITS_SCHEMA)
    return hits_df.select(*_KEY, (F.col("hits") / F.lit(float(k))).alias("propensity"))


def _bucket_hits(draws: int, slots: int, one_per_type: bool) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """The applyInPandas function: one call per bucket of whole users (not per row)."""
    # A plain function, not functools.partial: PySpark inspects its signature.
    def count_hits(pdf: pd.DataFrame) -> pd.DataFrame:
        return slot_hits(pdf.drop(columns=["_bucket"]), draws, slots, one_per_type)

    return count_hits


def with_propensity(chosen_df: DataFrame, pool_df: DataFrame, config: BanditConfig, policy: str,
                    seed: int, run_date: str) -> DataFrame:
    """Adds ``propensity`` and ``is_exploration`` to the chosen rows (user_id, promotion_id, slot,
    is_explore_user).

    is_exploration: thompson/ucb — greedy would not put the promotion in this user's slots;
    epsilon_greedy — the user's explore coin; random — always; greedy — never.
    """
    greedy_df = with_greedy_slot(pool_df, config).select("user_id", "promotion_id", "greedy_slot")
    df = chosen_df.join(greedy_df, on=["user_id", "promotion_id"], how="left")
    if policy in DETERMINISTIC_POLICIES:
        df = df.withColumn("propensity", F.lit(1.0))
    elif policy == "thompson":
        mc_df = thompson_propensity(pool_df, chosen_df, config, seed, run_date)
        floor = 1.0 / (2.0 * config.propensity_draws)
        df = (df.join(mc_df, on=_KEY, how="left")
              .withColumn("propensity", F.greatest(F.coalesce(F.col("propensity"), F.lit(0.0)),
                                                   F.lit(floor))))
    else:
        df = df.join(random_propensity(pool_df, config).drop("reach"), on=["user_id", "promotion_id"],
                     how="left")
        df = df.withColumn("propensity", F.col("p_random") if policy == "random" else _epsilon_mix(config))
    if policy == "greedy":
        explore = F.lit(False)
    elif policy == "random":
        explore = F.lit(True)
    elif policy == "epsilon_greedy":
        explore = F.col("is_explore_user")
    else:
        explore = F.col("greedy_slot").isNull()
    return df.withColumn("is_exploration", explore)


def slot_probabilities(pool_df: DataFrame, chosen_df: DataFrame, config: BanditConfig, policy: str,
                       seed: int, run_date: str) -> DataFrame:
    """The policy's whole slot distribution over the user's pool (what the propensities of
    :func:`with_propensity` are entries of): P(the policy puts this candidate in this slot).

    For every user and every slot the pool can fill, the probabilities sum to 1 over the pool
    (for thompson up to its Monte Carlo bound, propensity_max_candidates). Deterministic policies
    put their chosen rows there with certainty.

    Args:
        pool_df: the user's candidates after the budget allocation (user_id, promotion_id,
            promo_type, lift, alpha, beta, posterior_mean).
        chosen_df: user_id, promotion_id, slot of the live choice.

    Returns:
        user_id, promotion_id, slot (int), propensity (> 0 rows only; unfloored).
    """
    if policy in DETERMINISTIC_POLICIES:
        return chosen_df.select(*_KEY, F.lit(1.0).alias("propensity"))
    if policy == "thompson":
        return thompson_propensity(pool_df, chosen_df.select("user_id", "promotion_id"), config, seed,
                                   run_date)
    slots_df = pool_df.sparkSession.range(1, config.slots_per_user + 1).select(
        F.col("id").cast("int").alias("slot"))
    df = (random_propensity(pool_df, config)
          .join(with_greedy_slot(pool_df, config).select("user_id", "promotion_id", "greedy_slot"),
                on=["user_id", "promotion_id"], how="left")
          .crossJoin(F.broadcast(slots_df)).filter(F.col("slot") <= F.col("reach")))
    p = F.col("p_random") if policy == "random" else _epsilon_mix(config)
    return df.select(*_KEY, p.alias("propensity")).filter(F.col("propensity") > 0)
