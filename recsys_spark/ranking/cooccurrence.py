"""Weighted, time-decayed item co-occurrence as a sparse self-join on contexts.

A context is a known user's history ("u|<user_id>") or a session ("s|<session_id>", anonymous
sessions included). Each (context, item) gets an affinity a = sum over its events of
event_weight * 0.5 ** (age_days / half_life). The co-occurrence matrix is C = A^T diag(cw) A:

    C[i, j] = sum over contexts c of cw(c) * a[c, i] * a[c, j]      (cw: 1 for users,
    C[i, i] = sum over contexts c of cw(c) * a[c, i] ** 2             session_weight for sessions)

With unit weights and no decay this is SAR's co-occurrence count matrix, which is what makes
the measures in measures.py SAR's. ``support`` counts contexts that hold both items.

Why the cost stays bounded (n events, N = history cap, k = items per context):
1. Events are aggregated to one row per (context, item) first: repeats cost nothing in the join.
2. Each context keeps at most N items (strongest affinity first) BEFORE the self-join, so a
   context emits at most N*(N-1)/2 pairs: total pairs <= contexts * N^2 / 2 instead of the
   sum of k^2 over contexts, which one bot-like or very heavy user alone could blow up.
3. The self-join emits only item_i < item_j (half the pairs) and the mirror is added after
   aggregation, when rows are one per distinct pair instead of one per (context, pair).
4. Heavy items (present in more than ``max_contexts_per_item`` contexts), and with
   ``dimsum_threshold`` every item by its norm (DIMSUM), keep each of their (context, item)
   entries with probability q_i and weight 1/q_i (Horvitz-Thompson: the estimate of C[i, j] stays
   unbiased). This caps a popular item's expected entries, hence its share of all pairs, and
   removes the skew it would put on the pair aggregation. Draws are a hash of (seed, context,
   item), so reruns give the same sample on any partitioning.
5. Pairs under ``min_support`` are dropped right after aggregation, before the measure joins
   and the top-K window, which are then over the surviving sparse pairs only.
The join key (context) is itself bounded by the cap, and Spark's AQE skew-join splitting handles
what remains; the pair aggregation is partially aggregated map-side (hash aggregate).
"""
from __future__ import annotations

import datetime as dt
import math

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from recsys_spark.settings.similarity import SimilarityConfig

_HASH_RANGE = 1 << 52  # uniform draws with 52-bit resolution from xxhash64


def with_event_weight(events_df: DataFrame, cfg: SimilarityConfig, as_of: dt.date) -> DataFrame:
    """Item events with a positive weight ``w`` (event-type weight times time decay).

    Decay is measured from the end of ``as_of`` (midnight after it, UTC); event types without a
    configured weight (remove_from_cart, promo_*) are dropped.
    """
    weights = cfg.event_weights.as_dict()
    weight = F.lit(None).cast("double")
    for event_type, value in weights.items():
        weight = F.when(F.col("event_type") == event_type, F.lit(float(value))).otherwise(weight)
    if cfg.half_life_days is not None:
        end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(0), tzinfo=dt.timezone.utc)
        age_days = (F.lit(end).cast("double") - F.col("event_time").cast("double")) / 86400.0
        weight = weight * F.pow(F.lit(0.5), F.greatest(age_days, F.lit(0.0)) / cfg.half_life_days)
    return (events_df.filter(F.col("event_type").isin(*weights) & F.col("item_id").isNotNull())
            .withColumn("w", weight))


def context_items(weighted_df: DataFrame, cfg: SimilarityConfig) -> DataFrame:
    """One row per (context, item) with its affinity, capped per context (step 1 and 2).

    Returns context_id, cw (context weight), item_id, a (affinity), last_time.
    """
    parts = []
    if cfg.contexts in ("user", "both"):
        parts.append(weighted_df.filter(F.col("user_id").isNotNull()).select(
            F.concat(F.lit("u|"), F.col("user_id")).alias("context_id"), F.lit(1.0).alias("cw"),
            F.lit(cfg.max_history_per_user).alias("cap"), "item_id", "w", "event_time"))
    if cfg.contexts in ("session", "both"):
        parts.append(weighted_df.filter(F.col("session_id").isNotNull()).select(
            F.concat(F.lit("s|"), F.col("session_id")).alias("context_id"),
            F.lit(float(cfg.session_weight if cfg.contexts == "both" else 1.0)).alias("cw"),
            F.lit(cfg.max_history_per_session).alias("cap"), "item_id", "w", "event_time"))
    union_df = parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1])
    affinity_df = (union_df.groupBy("context_id", "item_id")
                   .agg(F.first("cw").alias("cw"), F.first("cap").alias("cap"),
                        F.sum("w").alias("a"), F.max("event_time").alias("last_time")))
    # Strongest affinity first; ties by most recent, then item id, so the cap is deterministic.
    order = Window.partitionBy("context_id").orderBy(F.col("a").desc(), F.col("last_time").desc(),
                                                     F.col("item_id").asc())
    return (affinity_df.withColumn("pos", F.row_number().over(order))
            .filter(F.col("pos") <= F.col("cap"))
            .select("context_id", "cw", "item_id", "a", "last_time"))


def item_diagonal(entries_df: DataFrame) -> DataFrame:
    """item_id, diag = C[i, i] (exact, before any sampling), n_contexts."""
    return entries_df.groupBy("item_id").agg(
        F.sum(F.col("cw") * F.col("a") * F.col("a")).alias("diag"),
        F.count("*").alias("n_contexts"))


def _uniform(seed: int, *cols: str) -> Column:
    return F.pmod(F.xxhash64(F.lit(seed), *[F.col(c) for c in cols]), F.lit(_HASH_RANGE)) / float(_HASH_RANGE)


def with_sampling(entries_df: DataFrame, diag_df: DataFrame, cfg: SimilarityConfig, seed: int,
                  n_items: int) -> DataFrame:
    """Keeps each (context, item) entry with probability q_i and adds inv_q = 1/q_i (step 4).

    q_i = min(1, max_contexts_per_item / n_contexts_i, sqrt(gamma) / ||c_i||) where the DIMSUM
    oversampling gamma = 10 * ln(n_items) / dimsum_threshold (as Spark's
    RowMatrix.columnSimilarities); terms that are switched off in config are left out. With both
    off, q = 1 and nothing is sampled.
    """
    q = F.lit(1.0)
    if cfg.max_contexts_per_item is not None:
        q = F.least(q, F.lit(float(cfg.max_contexts_per_item)) / F.col("n_contexts"))
    if cfg.dimsum_threshold is not None:
        gamma = 10.0 * math.log(max(n_items, 2)) / cfg.dimsum_threshold
        q = F.least(q, F.lit(math.sqrt(gamma)) / F.sqrt(F.col("diag")))
    if cfg.max_contexts_per_item is None and cfg.dimsum_threshold is None:
        return entries_df.withColumn("inv_q", F.lit(1.0))
    probs_df = diag_df.select("item_id", q.alias("q"))
    return (entries_df.join(probs_df, on="item_id", how="inner")
            .filter((F.col("q") >= 1.0) | (_uniform(seed, "context_id", "item_id") < F.col("q")))
            .withColumn("inv_q", 1.0 / F.col("q"))
            .drop("q"))


def cooccurrence_pairs(sampled_df: DataFrame, min_support: int) -> DataFrame:
    """item_i < item_j pairs: cooc = estimated C[i, j], support = contexts holding both (steps 3, 5)."""
    left = sampled_df.select("context_id", "cw", F.col("item_id").alias("item_i"),
                             F.col("a").alias("a_i"), F.col("inv_q").alias("iq_i"))
    right = sampled_df.select("context_id", F.col("item_id").alias("item_j"),
                              F.col("a").alias("a_j"), F.col("inv_q").alias("iq_j"))
    joined = left.join(right, on="context_id", how="inner").filter(F.col("item_i") < F.col("item_j"))
    ht = F.col("iq_i") * F.col("iq_j")
    return (joined.groupBy("item_i", "item_j")
            .agg(F.sum(F.col("cw") * F.col("a_i") * F.col("a_j") * ht).alias("cooc"),
                 F.round(F.sum(ht)).cast("long").alias("support"))
            .filter(F.col("support") >= min_support))
