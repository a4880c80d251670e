"""Policy scores per (user, eligible promotion).

Combining the segment posterior with the user's own predicted response (user -> segment
shrinkage): the response model says how this user differs from the segment,
``lift = 1 + user_weight * (p_user / m_segment - 1)`` clipped to [0, max_user_lift], where
``m_segment`` is the segment's mean predicted response for the promotion. The bandit learns the
segment's level from logged rewards; the lift carries the user's contrast on top:

* greedy:          score = lift * posterior mean
* thompson:        score = lift * theta, theta = BetaPPF(keyed uniform; alpha, beta) (draw 0 live)
* bayes_ucb:       score = lift * BetaPPF(ucb_quantile; alpha, beta)
* ucb1:            score = lift * posterior mean + c * sqrt(2 ln(n_context) / n_arm), with n the
                   decayed impressions plus the prior pseudo-count (so it is never 0)
* random:          within a promo type the winner is chosen by one keyed uniform (``type_score``),
                   the winners are ordered by another (``score``): exact propensities stay simple
* epsilon_greedy:  a keyed coin per (user, run date) with P(explore) = epsilon; explorers get the
                   random policy's scores, the others greedy's.

``expected_response = min(1, lift * posterior mean)`` for every policy; the budget allocation
counts it times the user's P(visit) (constraints.visit_probabilities).
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from recsys_spark.bandit.sampling import beta_ppf, keyed_uniform
from recsys_spark.settings.bandit import BanditConfig


def with_lift(candidates_df: DataFrame, config: BanditConfig) -> DataFrame:
    """Adds ``lift`` and ``expected_response`` (needs p_response, segment_mean_p, posterior_mean)."""
    ratio = F.col("p_response") / F.greatest(F.col("segment_mean_p"), F.lit(1e-9))
    lift = F.least(F.greatest(1 + F.lit(config.user_weight) * (ratio - 1), F.lit(0.0)),
                   F.lit(config.max_user_lift))
    return (candidates_df.withColumn("lift", F.coalesce(lift, F.lit(1.0)))
            .withColumn("expected_response", F.least(F.col("lift") * F.col("posterior_mean"), F.lit(1.0))))


def thompson_draw(seed: int | Column, run_date: str, draw: Column) -> Column:
    """theta ~ Beta(alpha, beta) keyed by (seed, run date, user, promotion, draw)."""
    u = keyed_uniform(seed, run_date, F.col("user_id"), F.col("promotion_id"), draw, F.lit("ts"))
    return beta_ppf(u, F.col("alpha"), F.col("beta"))


def with_policy_scores(candidates_df: DataFrame, config: BanditConfig, seed: int, run_date: str,
                       policy: str | None = None) -> DataFrame:
    """Adds ``score``, ``type_score`` and ``is_explore_user`` for the live decision (draw 0).

    Args:
        candidates_df: user_id, promotion_id, lift, expected_response, alpha, beta,
            posterior_mean, context_pseudo_count (sum of alpha + beta over the context's arms).
        policy: overrides config.policy.

    Returns:
        The input with the three columns added.

    Raises:
        ValueError: unknown policy name.
    """
    name = policy or config.policy
    greedy = F.col("lift") * F.col("posterior_mean")
    rand_type = keyed_uniform(seed, run_date, F.col("user_id"), F.col("promotion_id"), F.lit("rtype"))
    rand_order = keyed_uniform(seed, run_date, F.col("user_id"), F.col("promotion_id"), F.lit("rord"))
    explore = F.lit(False)
    if name == "greedy":
        score = greedy
    elif name == "thompson":
        score = F.col("lift") * thompson_draw(seed, run_date, F.lit(0))
    elif name == "bayes_ucb":
        score = F.col("lift") * beta_ppf(F.lit(config.ucb_quantile), F.col("alpha"), F.col("beta"))
    elif name == "ucb1":
        n_arm = F.col("alpha") + F.col("beta")
        bonus = F.sqrt(F.lit(2.0) * F.log(F.greatest(F.col("context_pseudo_count"), F.lit(2.0))) / n_arm)
        score = greedy + F.lit(config.ucb_c) * bonus
    elif name == "random":
        score, explore = rand_order, F.lit(True)
    elif name == "epsilon_greedy":
        explore = keyed_uniform(seed, run_date, F.col("user_id"), F.lit("explore")) < F.lit(config.epsilon)
        score = F.when(explore, rand_order).otherwise(greedy)
    else:
        raise ValueError(f"policy: unknown policy {name!r}")
    type_score = (F.col("score") if name not in ("random", "epsilon_greedy")
                  else F.when(F.col("is_explore_user"), rand_type).otherwise(F.col("score")))
    return (candidates_df.withColumn("is_explore_user", explore)
            .withColumn("score", score)
            .withColumn("type_score", type_score))


def select_slots(df: DataFrame, group_cols: list[str], slots: int | Column,
                 one_per_type: bool, score_col: str = "score",
                 type_score_col: str = "type_score") -> DataFrame:
    """Per group (user, or user x draw): at most one promotion per promo type (the best by
    ``type_score_col``), then the best ``slots`` by ``score_col``; ties broken by promotion_id.

    Returns:
        The kept rows with ``slot`` (int, 1..slots).
    """
    if one_per_type:
        by_type = Window.partitionBy(*group_cols, "promo_type").orderBy(
            F.col(type_score_col).desc(), F.col("promotion_id"))
        df = df.withColumn("_type_rank", F.row_number().over(by_type)).filter(F.col("_type_rank") == 1)
        df = df.drop("_type_rank")
    by_score = Window.partitionBy(*group_cols).orderBy(F.col(score_col).desc(), F.col("promotion_id"))
    limit = slots if isinstance(slots, Column) else F.lit(slots)
    return (df.withColumn("slot", F.row_number().over(by_score).cast("int"))
            .filter(F.col("slot") <= limit))
