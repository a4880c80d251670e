"""Monitoring of the live policy: one `policy_monitor` row per figure and key for a run date.

Figures (``key`` 'all' unless said otherwise):

- exploration_rate: share of the run's treated slots that are not the greedy choice
  (user_promotions.is_exploration).
- promotion_share (key promotion_id): the promotion's share of the run's treated slots.
- promotion_mix_psi: population stability index of that mix against the previous plan:
  sum (a - b) ln(a / b) over promotions, shares floored at PSI_FLOOR (the previous plan: the
  newest user_promotions run date before the run date).
- budget_burn_rate (key promotion_id): redemptions per day over the last ``window`` days as a
  share of the promotion's budget (null budget: no row); days_of_budget_left (key
  promotion_id): remaining budget / redemptions per day (null when none were redeemed).
- frequency_cap_share: share of the run's treated users who were already shown one of their
  promotions frequency_cap_impressions times in the cap window (audit.impression_counts).
- ece_live, ece_at_training, ece_drift: calibration of the response model's p_response on the
  plans of the window (label: the user redeemed the promotion in the window after the plan),
  its ECE on its own test split at training (model_metrics), and the difference.

A figure beyond its threshold (bandit.monitor_*) is flagged; a flag never fails the run.
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recsys_spark.domain.events import PROMO_REDEEM
from recsys_spark.response.metrics import reliability
from recsys_spark.settings.bandit import BanditConfig

PSI_FLOOR = 1e-4
ECE_BINS = 10


def promotion_shares(plan_df: DataFrame) -> dict[str, float]:
    """promotion_id -> share of the plan's treated slots (one small aggregate)."""
    rows = (plan_df.filter(~F.col("is_holdout") & F.col("promotion_id").isNotNull())
            .groupBy("promotion_id").count().collect())
    total = sum(r["count"] for r in rows)
    return {r["promotion_id"]: r["count"] / total for r in rows} if total else {}


def psi(current: Mapping[str, float], previous: Mapping[str, float]) -> float | None:
    """Population stability index of two shares over the union of their keys; None when either
    is empty."""
    if not current or not previous:
        return None
    total = 0.0
    for key in set(current) | set(previous):
        a, b = max(current.get(key, 0.0), PSI_FLOOR), max(previous.get(key, 0.0), PSI_FLOOR)
        total += (a - b) * math.log(a / b)
    return total


def exploration_rate(plan_df: DataFrame) -> float | None:
    row = (plan_df.filter(~F.col("is_holdout") & F.col("promotion_id").isNotNull())
           .agg(F.avg(F.col("is_exploration").cast("double")).alias("rate")).first())
    return None if row is None or row["rate"] is None else float(row["rate"])


def budget_burn(redeems_df: DataFrame, servable_df: DataFrame, window_days: int
                ) -> list[tuple[str, float | None, float | None]]:
    """(promotion_id, burn rate = redemptions per day / budget, days of budget left) of the
    servable promotions with a budget; ``redeems_df`` holds the window's promo_redeem events."""
    per_day = (redeems_df.groupBy("promotion_id")
               .agg((F.count(F.lit(1)) / window_days).alias("per_day")))
    rows = (servable_df.filter(F.col("budget").isNotNull())
            .select("promotion_id", "budget", "remaining_budget")
            .join(per_day, on="promotion_id", how="left").orderBy("promotion_id").collect())
    out = []
    for r in rows:
        rate = float(r["per_day"] or 0.0)
        out.append((r["promotion_id"], rate / float(r["budget"]) if r["budget"] else None,
                    float(r["remaining_budget"]) / rate if rate > 0 else None))
    return out


def frequency_cap_share(plan_df: DataFrame, shown_df: DataFrame, config: BanditConfig) -> float | None:
    """Share of the plan's treated users with a promotion already shown up to the cap."""
    capped_df = (shown_df.filter(F.col("shown") >= config.frequency_cap_impressions)
                 .select("user_id").distinct().withColumn("capped", F.lit(1.0)))
    row = (plan_df.filter(~F.col("is_holdout")).select("user_id").distinct()
           .join(capped_df, on="user_id", how="left")
           .agg(F.avg(F.coalesce("capped", F.lit(0.0))).alias("share")).first())
    return None if row is None or row["share"] is None else float(row["share"])


def live_ece(plans_df: DataFrame, scores_df: DataFrame, events_df: DataFrame, run_date: dt.date
             ) -> float | None:
    """ECE of p_response of the window's planned (user, promotion) pairs against whether the
    user redeemed that promotion after the plan's run date, up to ``run_date``."""
    redeems_df = (events_df.filter((F.col("event_type") == PROMO_REDEEM) & F.col("user_id").isNotNull())
                  .select("user_id", "promotion_id", F.col("event_date").alias("redeem_date")))
    labelled_df = (plans_df.filter(~F.col("is_holdout") & F.col("promotion_id").isNotNull())
                   .select("user_id", "promotion_id", "run_date").distinct()
                   .join(scores_df.select("user_id", "promotion_id", "run_date", "p_response"),
                         on=["user_id", "promotion_id", "run_date"], how="inner")
                   .join(redeems_df, on=["user_id", "promotion_id"], how="left")
                   .groupBy("user_id", "promotion_id", "run_date", "p_response")
                   .agg(F.max((F.col("redeem_date") > F.col("run_date"))
                              & (F.col("redeem_date") <= F.lit(run_date))).alias("redeemed"))
                   .select(F.col("p_response").alias("p"),
                           F.coalesce(F.col("redeemed"), F.lit(False)).cast("double").alias("label")))
    bins, ece = reliability(labelled_df, ECE_BINS)
    return ece if bins else None


def monitor_rows(figures: Mapping[tuple[str, str], float | None], config: BanditConfig
                 ) -> list[dict]:
    """Rows (metric, key, value, threshold, flagged) in metric, key order; flagged when a value
    is beyond its threshold (bandit.monitor_*), null when there is no value or threshold."""
    limits: dict[str, float] = {
        "exploration_rate": config.monitor_max_exploration_rate,
        "promotion_mix_psi": config.monitor_max_psi,
        "budget_burn_rate": config.monitor_max_budget_burn_rate,
        "frequency_cap_share": config.monitor_max_frequency_cap_share,
        "ece_drift": config.monitor_max_ece_drift,
    }
    out = []
    for (metric, key), value in sorted(figures.items()):
        threshold = limits.get(metric)
        flagged = None if value is None or threshold is None else value > threshold
        out.append({"metric": metric, "key": key, "value": value, "threshold": threshold,
                    "flagged": flagged})
    return out
