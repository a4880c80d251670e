"""Spark side of generation: who visits on which day, the batch generator, readable columns."""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys_spark.simulate.behaviour import EVENT_TYPES, OUTPUT_DDL, generate_batches
from recsys_spark.simulate.world import ANON_ID_BASE, KIND_ANON, KIND_BOT, KIND_USER, World

ANON_PER_DAY_BASE = 10_000_000  # anonymous keys: ANON_ID_BASE + day * this + j


def user_id_col(idx: Column) -> Column:
    return F.format_string("u%07d", idx)


def promotion_id_col(idx: Column) -> Column:
    return F.format_string("p%04d", idx)


def item_id_col(idx: Column) -> Column:
    return F.format_string("i%05d", idx)


def hex_id(prefix: str, key: Column) -> Column:
    """"prefix" + 16 lower-case hex digits of a 64-bit key (two's complement for negatives).

    Java's %x prints a negative long as its two's complement. Not lower(hex(key)): Spark 4's
    lower() first initialises ICU case tables, several CPU seconds once per JVM.
    """
    # when(): null for a null key (as before) and a nullable column, so file schemas stay the same.
    return F.when(key.isNotNull(), F.format_string(f"{prefix}%016x", key))


def visitor_rows(spark: SparkSession, world: World, day_indexes: Sequence[int]) -> DataFrame:
    """One row (kind, key, day) per registered user, bot and anonymous visitor per day."""
    cfg = world.config
    parts = cfg.generation_partitions
    days_df = spark.createDataFrame(pd.DataFrame({"day": list(day_indexes)}), "day int")
    users_df = (spark.range(0, cfg.n_users + world.n_bots, numPartitions=parts)
                .select(F.when(F.col("id") < cfg.n_users, F.lit(KIND_USER))
                        .otherwise(F.lit(KIND_BOT)).cast("int").alias("kind"),
                        F.col("id").alias("key")))
    # Anonymous sessions relative to the expected sessions of registered users.
    n_anon = int(round(cfg.anonymous_session_share * cfg.n_users * cfg.sessions_per_user_day))
    anon_df = (spark.range(0, n_anon, numPartitions=parts)
               .select(F.lit(KIND_ANON).alias("kind"), F.col("id").alias("j")))
    rows_df = users_df.crossJoin(F.broadcast(days_df)).select("kind", "key", "day")
    anon_rows_df = (anon_df.crossJoin(F.broadcast(days_df))
                    .select("kind", (F.lit(ANON_ID_BASE) + F.col("day") * ANON_PER_DAY_BASE
                                     + F.col("j")).alias("key"), "day"))
    # All days of a visitor in one partition, sorted by key: a visitor's rows then share an Arrow
    # batch and the generator computes its taste-derived matrices once, not once per day.
    return (rows_df.unionByName(anon_rows_df).repartition(parts, "key")
            .sortWithinPartitions("key", "day"))


def raw_behaviour(world: World, rows_df: DataFrame, plan: bool) -> DataFrame:
    """Numeric event rows from :mod:`behaviour` (a pandas UDF; see that module for why)."""
    columns = ["kind", "key", "day"]
    if plan:
        columns += ["plan_promos", "plan_props", "plan_positions", "plan_policy"]

    def run(batches):  # closure ships the (small) world to the executors
        return generate_batches(world, batches, plan)

    return rows_df.select(*columns).mapInPandas(run, OUTPUT_DDL)


def readable_events(spark: SparkSession, world: World, raw_df: DataFrame,
                    policies: Sequence[str]) -> DataFrame:
    """Raw numeric rows -> the canonical raw columns plus generator metadata.

    Metadata columns (never written to the JSON): event_key, event_ms, gen_day, is_bot.
    """
    items_pdf = pd.DataFrame({
        "item_idx": range(world.n_items),
        "item_id": [f"i{i:05d}" for i in range(world.n_items)],
        "category": list(world.item_category), "brand": list(world.item_brand),
        "price": world.item_price.astype(float)})
    items_df = spark.createDataFrame(items_pdf, "item_idx int, item_id string, category string, "
                                                "brand string, price double")
    etype_names = F.array(*[F.lit(n) for n in EVENT_TYPES])
    policy_names = F.array(*[F.lit(p) for p in policies]) if policies else F.array().cast("array<string>")
    return (raw_df.join(F.broadcast(items_df), on="item_idx", how="left")
            .select(
                hex_id("e", F.col("event_key")).alias("event_id"),
                F.col("event_key"), F.col("event_ms"), F.col("gen_day"),
                (F.col("kind") == KIND_BOT).alias("is_bot"),
                F.element_at(etype_names, F.col("etype").cast("int") + 1).alias("event_type"),
                F.when(F.col("kind") == KIND_ANON, F.lit(None).cast("string"))
                .otherwise(user_id_col(F.col("user_key"))).alias("user_id"),
                hex_id("s", F.col("session_key")).alias("session_id"),
                "item_id", "category", "brand", "price",
                F.when(F.col("quantity") >= 0, F.col("quantity")).alias("quantity"),
                F.when(F.col("promo_idx") >= 0, promotion_id_col(F.col("promo_idx"))).alias("promotion_id"),
                F.when(F.col("position") >= 0, F.col("position")).alias("position"),
                F.when(~F.isnan("propensity"), F.col("propensity")).alias("propensity"),
                F.when(F.col("policy_idx") >= 0,
                       F.element_at(policy_names, F.col("policy_idx") + 1)).alias("policy")))
