"""Business rules, enforced in Spark across all users.

* Eligibility: a promotion is servable on the run date (domain/promotions.py: active, with
  budget left; a null budget is unlimited). Targeting beyond that (categories, tastes) is the
  response model's job: it scores only sensible pairs.
* Frequency cap: a (user, promotion) with >= X impressions in the last Y days is not a candidate.
* Slots and promo types: at most N promotions and at most one per promo type per user
  (policies.select_slots).
* Budget: the expected redemptions of the users given a promotion stay within its remaining
  budget. A user's expected redemptions = expected_response (P(respond | shown)) x P(visit):
  a promotion assigned to a user who does not come back is never shown, so counting it in full
  would cap the best promotions at a fraction of their budget (see :func:`visit_probabilities`).
  Distributed allocation in rounds: every user proposes its best open candidates for its free
  slots; per promotion, proposals are ranked by score and accepted while the cumulative
  expected redemptions (a running-sum window) plus what the
  promotion already took stays within its remaining budget (a prefix cut at capacity).
  Rejected pairs are closed; in the next round those users propose their next candidates.
  After ``allocation_rounds`` rounds a user may keep a free slot (documented, not an error).
  Each round is a few windows over (user) and (promotion) — no pairwise joins.
* Holdout: a stable hashed share of users (key: config seed and user id, NOT the run date, so
  the control group does not churn) gets no personalized promotion. Each holdout user has
  exactly one row: rank 0, promotion_id/score/expected_response null, propensity 1.0 (the
  policy shows nothing with certainty), is_exploration false, is_holdout true.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from recsys_spark.bandit.sampling import keyed_uniform
from recsys_spark.domain.events import PROMO_IMPRESSION
from recsys_spark.settings.bandit import BanditConfig

OPEN, ASSIGNED, REJECTED = "open", "assigned", "rejected"


def filter_frequency_capped(candidates_df: DataFrame, events_df: DataFrame, run_date: dt.date,
                            config: BanditConfig) -> DataFrame:
    """Drops (user, promotion) pairs shown >= frequency_cap_impressions times in the last
    frequency_cap_days days (run date included)."""
    since = run_date - dt.timedelta(days=config.frequency_cap_days - 1)
    capped_df = (events_df.filter((F.col("event_type") == PROMO_IMPRESSION)
                                  & (F.col("event_date") >= F.lit(since))
                                  & (F.col("event_date") <= F.lit(run_date))
                                  & F.col("user_id").isNotNull())
                 .groupBy("user_id", "promotion_id").agg(F.count(F.lit(1)).alias("shown"))
                 .filter(F.col("shown") >= config.frequency_cap_impressions)
                 .select("user_id", "promotion_id"))
    return candidates_df.join(capped_df, on=["user_id", "promotion_id"], how="left_anti")


def visit_probabilities(users_df: DataFrame, events_df: DataFrame, observed_days: int,
                        config: BanditConfig) -> DataFrame:
    """P(the user visits on a given day), from the days the user was active.

    ``p = (active_days + k * r) / (observed_days + k)``: active_days = distinct event dates of
    the user in ``events_df``, observed_days = the dates with any events in the window,
    k = config.visit_prior_days pseudo-days at r = the mean active share of ``users_df`` (users
    without events count as 0). A user without history sits at the population's rate.

    Args:
        users_df: user_id of every scored user.
        events_df: events of the visit window (event_date, user_id).
        observed_days: how many event dates the window holds; 0 (or the discount off,
            config.visit_window_days = 0) gives p = 1 for everyone.

    Returns:
        user_id, p_visit (one row per distinct user of ``users_df``).
    """
    users_df = users_df.select("user_id").distinct()
    if config.visit_window_days == 0 or observed_days == 0:
        return users_df.withColumn("p_visit", F.lit(1.0))
    active_df = (events_df.filter(F.col("user_id").isNotNull())
                 .groupBy("user_id").agg(F.countDistinct("event_date").alias("_days")))
    days = F.coalesce(F.col("_days"), F.lit(0))
    shares_df = users_df.join(active_df, on="user_id", how="left")
    # The population's rate is one row, broadcast back (no single-partition window over users).
    mean_df = shares_df.agg((F.avg(days) / F.lit(float(observed_days))).alias("_rate"))
    k = F.lit(float(config.visit_prior_days))
    p_visit = (days + k * F.col("_rate")) / (F.lit(float(observed_days)) + k)
    shares_df = shares_df.crossJoin(F.broadcast(mean_df))
    return shares_df.select("user_id", F.round(p_visit, 12).alias("p_visit"))


def holdout_flag(seed: int) -> Column:
    """A stable uniform per user (key: config seed and user, no run date); < share = holdout."""
    return keyed_uniform(seed, "holdout", F.col("user_id"))


def allocate_budget(candidates_df: DataFrame, config: BanditConfig) -> DataFrame:
    """Assign slots per user under slot, promo-type and per-promotion budget constraints.

    Args:
        candidates_df: user_id, promotion_id, promo_type, score, type_score,
            expected_redemptions (expected_response x P(visit)), remaining_budget (null =
            unlimited; one row per
            eligible pair of a non-holdout user).

    Returns:
        The input with ``status`` in {assigned, rejected, open}: assigned = given to the user,
        rejected = lost to a capped budget, open = never needed (the user's slots were filled).
        At most ``config.allocation_rounds`` rounds; fewer when a round rejects nothing.
    """
    user_w = Window.partitionBy("user_id")
    user_type_w = Window.partitionBy("user_id", "promo_type")
    promo_w = Window.partitionBy("promotion_id")
    # Ties in score go to a hash of the user rather than the id order, then the id (total order).
    promo_order = Window.partitionBy("promotion_id").orderBy(
        F.col("score").desc(), F.xxhash64("user_id"), F.col("user_id")).rowsBetween(
        Window.unboundedPreceding, Window.currentRow)
    df = candidates_df.withColumn("status", F.lit(OPEN))
    rejected = 0
    for _ in range(config.allocation_rounds):
        is_assigned = (F.col("status") == ASSIGNED).cast("int")
        df = df.withColumn("_taken_slots", F.sum(is_assigned).over(user_w))
        can_propose = F.col("status") == OPEN
        if config.one_per_promo_type:
            df = df.withColumn("_type_taken", F.max(is_assigned).over(user_type_w))
            can_propose = can_propose & (F.col("_type_taken") == 0)
        # Proposals by windows only (no self-join): the best open candidate per type, then the
        # best of those for the user's free slots.
        if config.one_per_promo_type:
            type_rank = F.row_number().over(user_type_w.orderBy(
                can_propose.desc(), F.col("type_score").desc(), F.col("promotion_id")))
            df = df.withColumn("_type_ok", can_propose & (type_rank == 1))
        else:
            df = df.withColumn("_type_ok", can_propose)
        slot_rank = F.row_number().over(user_w.orderBy(
            F.col("_type_ok").desc(), F.col("score").desc(), F.col("promotion_id")))
        df = df.withColumn("_proposed", F.col("_type_ok")
                           & (slot_rank <= F.lit(config.slots_per_user) - F.col("_taken_slots")))
        used = F.sum(F.when(F.col("status") == ASSIGNED, F.col("expected_redemptions")).otherwise(0.0)
                     ).over(promo_w)
        df = df.withColumn("_used", used)
        proposed_er = F.when(F.col("_proposed"), F.col("expected_redemptions")).otherwise(0.0)
        # Running sum in score order; a proposal fits while used + running sum <= remaining budget.
        df = df.withColumn("_cum", F.sum(proposed_er).over(promo_order))
        # A null remaining budget is unlimited (domain/promotions.py): every proposal fits.
        fits = F.coalesce(F.col("_used") + F.col("_cum") <= F.col("remaining_budget") + F.lit(1e-9),
                          F.lit(True))
        df = (df.withColumn("status", F.when(F.col("_proposed") & fits, F.lit(ASSIGNED))
                            .when(F.col("_proposed"), F.lit(REJECTED))
                            .otherwise(F.col("status")))
              .drop("_taken_slots", "_type_taken", "_type_ok", "_proposed", "_used", "_cum"))
        # Cut the lineage each round: the plan would otherwise grow with every round.
        df = df.localCheckpoint(eager=True)
        # Users propose for all their free slots each round, so a round without a rejection
        # leaves nobody a reason to propose again: the remaining rounds would change nothing.
        now_rejected = df.filter(F.col("status") == REJECTED).count()
        if now_rejected == rejected:
            break
        rejected = now_rejected
    return df
