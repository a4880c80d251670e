"""Similarity-based affinity of a user's recent items to a promotion's eligible items.

Definition (``sim_affinity`` of a probe = user u, promotion p, instant t):

* R = the distinct items among u's last N item interactions (view, click, add_to_cart,
  purchase events with an item id) strictly before t; N = ``response.similarity_recent_events``.
* S = the ``item_similarity`` snapshot with the latest ``run_date`` strictly before t's date
  (the same rule as every optional table, feature_set.with_snapshot_date: the snapshot of day X
  is built from events up to the end of X, so an impression on X may only see X-1; scoring at
  the end of run date D sees D).
* E = p's eligible top-level categories; empty = the promotion targets every item.
* For r in R: m(r) = the highest S score between r and a top-K neighbour j of r whose top-level
  category is in E (any neighbour when E is empty); 0 when r has no such neighbour.
  j's category is the category of j's earliest categorized event, known only if that event is
  dated on or before S's run date (so a later event cannot change it).
* sim_affinity = (1/|R|) * sum over r in R of m(r); 0.0 when R is empty or there is no snapshot.
  sim_present = 1.0 when a snapshot exists for the probe, else 0.0 (drives the coverage rule).

Cost: probes x N rows for the recent items (each probe instant is expanded to its N slot
numbers and equi-joined to the numbered events, never a range join), top-K neighbour rows only
for the (snapshot, item) pairs some probe needs, crossed with the few distinct eligible-category
sets; everything is keyed by (user, instant, snapshot, eligible set), so at scoring a user's
promotions that target the same categories share one computation. No users x items step.
"""
from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from recsys_spark.domain.events import INTEREST_EVENT_TYPES, top_level

_KEY = ["user_id", "t_us", "_sim_date", "elig_key"]


def recent_items(instants_df: DataFrame, events_df: DataFrame, n_events: int) -> DataFrame:
    """user_id, t_us, item_id: the distinct items of the user's last ``n_events`` item
    interactions strictly before t_us, for each distinct (user_id, t_us) of ``instants_df``.

    One ordered pass per user numbers the item events 1, 2, ... (time, then event_id) and gives
    each instant the count of events strictly before it (instants sort before events of the same
    microsecond); the instant then equi-joins the event numbers count-N+1 .. count.
    """
    items_tl = (events_df
                .filter(F.col("user_id").isNotNull() & F.col("item_id").isNotNull()
                        & F.col("event_time").isNotNull() & F.col("event_type").isin(*INTEREST_EVENT_TYPES))
                .select("user_id", F.unix_micros("event_time").alias("t_us"), F.lit(1).alias("is_event"),
                        "event_id", "item_id"))
    probe_tl = instants_df.select("user_id", "t_us", F.lit(0).alias("is_event"),
                                  F.lit(None).cast("string").alias("event_id"),
                                  F.lit(None).cast("string").alias("item_id"))
    running = Window.partitionBy("user_id").orderBy("t_us", "is_event", "event_id") \
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    numbered_df = items_tl.unionByName(probe_tl).withColumn("seq", F.sum("is_event").over(running))
    events_seq_df = numbered_df.filter(F.col("is_event") == 1).select("user_id", "seq", "item_id")
    n = F.col("seq")
    # sequence(a, b) counts down when a > b, so an instant with no earlier event gets no slots.
    slots_df = (numbered_df.filter(F.col("is_event") == 0)
                .select("user_id", "t_us", F.explode(
                    F.when(n > 0, F.sequence(F.greatest(n - n_events + 1, F.lit(1)), n))
                    .otherwise(F.array().cast("array<bigint>"))).alias("seq")))
    return (slots_df.join(events_seq_df, on=["user_id", "seq"], how="inner")
            .select("user_id", "t_us", "item_id").distinct())


def item_first_categories(events_df: DataFrame) -> DataFrame:
    """item_id, category (top level), first_date: the item's earliest categorized event
    (event_time, then event_id) and its date."""
    first = F.min(F.struct("event_time", "event_id", "event_date", "category"))
    return (events_df.filter(F.col("item_id").isNotNull() & F.col("category").isNotNull()
                             & F.col("event_time").isNotNull())
            .groupBy("item_id").agg(first.alias("f"))
            .select("item_id", top_level(F.col("f.category")).alias("category"),
                    F.col("f.event_date").alias("first_date")))


def similarity_affinity(dated_df: DataFrame, events_df: DataFrame, similarity_df: DataFrame,
                        n_events: int) -> DataFrame:
    """probe_id, sim_affinity for probes of ``dated_df`` (probe_id, user_id, probe_time,
    eligible_categories, _sim_date) that have a snapshot (see the module docstring).

    ``similarity_df`` is the whole item_similarity table (all run dates).
    """
    elig = F.array_sort(F.array_distinct(F.coalesce(
        "eligible_categories", F.array().cast("array<string>"))))
    probes_df = (dated_df.filter(F.col("_sim_date").isNotNull())
                 .select("probe_id", "user_id", F.unix_micros("probe_time").alias("t_us"),
                         "_sim_date", elig.alias("elig"))
                 # A string key: eligible sets join as strings (the array stays for the filter).
                 .withColumn("elig_key", F.array_join("elig", "\u0001")))
    keys_df = probes_df.select(*_KEY, "elig").distinct()
    items_df = recent_items(keys_df.select("user_id", "t_us").distinct(), events_df, n_events)
    key_items_df = keys_df.join(items_df, on=["user_id", "t_us"], how="inner")
    needed_df = key_items_df.select("_sim_date", "item_id").distinct()
    # Eligible sets are one per promotion at most (tens): broadcast them.
    sets_df = F.broadcast(keys_df.select("elig_key", "elig").distinct())
    categories_df = item_first_categories(events_df).select(
        F.col("item_id").alias("similar_item_id"), F.col("category").alias("_nb_category"),
        F.col("first_date").alias("_nb_first"))
    neighbours_df = (similarity_df
                     .select(F.col("run_date").alias("_sim_date"), "item_id", "similar_item_id",
                             F.col("score").cast("double").alias("score"))
                     .join(needed_df, on=["_sim_date", "item_id"], how="left_semi")
                     .join(categories_df, on="similar_item_id", how="left")
                     .withColumn("_nb_category", F.when(F.col("_nb_first") <= F.col("_sim_date"),
                                                        F.col("_nb_category"))))
    best_df = (neighbours_df.crossJoin(sets_df)
               .filter((F.size("elig") == 0) | F.coalesce(
                   F.array_contains("elig", F.col("_nb_category")), F.lit(False)))
               .groupBy("_sim_date", "item_id", "elig_key").agg(F.max("score").alias("m")))
    per_key_df = (key_items_df.join(best_df, on=["_sim_date", "item_id", "elig_key"], how="left")
                  .groupBy(*_KEY)
                  .agg((F.sum(F.coalesce("m", F.lit(0.0))) / F.count(F.lit(1))).alias("sim_affinity")))
    return (probes_df.join(per_key_df, on=_KEY, how="left")
            .select("probe_id", F.coalesce("sim_affinity", F.lit(0.0)).alias("sim_affinity")))
