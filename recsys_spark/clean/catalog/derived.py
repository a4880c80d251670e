"""Dimensions derived from the logs, where a shop has no catalog (``origin = derived``).

- items from events: each item's last seen category, brand and price, each the value of the
  latest event (by event_time, then event_id) that carries one;
- an adapter may derive more (the Open Bandit adapter: items and promotions = its arms).

A derived state never replaces a catalog: a dimension that holds catalog rows (imported, or a
landing snapshot) is left alone. Otherwise the new state is the table's earlier derived rows
updated with this run's values (per column: this run's value if it has one), so items seen only
on earlier days stay known and a rerun of a day gives the same table.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from recsys_spark.clean.catalog.model import CATALOG, DERIVED, DIM_KEYS, DIM_SCHEMAS, DimSnapshot
from recsys_spark.domain.events import ITEM_EVENT_TYPES
from recsys_spark.stage_io import Inputs

log = logging.getLogger(__name__)


def _last_seen(column: str) -> Column:
    """The value of ``column`` on the latest event that has one (event_id breaks time ties)."""
    value = F.col(column)
    return F.max_by(value, F.when(value.isNotNull(), F.struct("event_time", "event_id"))).alias(column)


def items_from_events(events_df: DataFrame) -> DataFrame:
    """One row per item of the item events: item_id, category, brand, price (last seen),
    name (null), origin = derived.

    Args:
        events_df: `events`-shaped rows (event_id, event_time, event_type, item_id, category,
            brand, price).
    """
    return (events_df.where(F.col("event_type").isin(*ITEM_EVENT_TYPES) & F.col("item_id").isNotNull())
            .groupBy("item_id")
            .agg(_last_seen("category"), _last_seen("brand"), _last_seen("price"))
            .select("item_id", "category", "brand", "price", F.lit(None).cast("string").alias("name"),
                    F.lit(DERIVED).alias("origin")))


def holds_catalog(inputs: Inputs, table: str) -> bool:
    """True when ``table`` has rows of a shop's catalog (``origin`` catalog; rows written before
    the column existed count as catalog). One small aggregate."""
    if not inputs.has(table):
        return False
    df = inputs.read(table)
    if "origin" not in df.columns:
        return df.limit(1).count() > 0
    return df.where(F.col("origin").isNull() | (F.col("origin") == CATALOG)).limit(1).count() > 0


def updated(new_df: DataFrame, earlier_df: DataFrame | None, table: str) -> DataFrame:
    """``earlier_df``'s rows updated with ``new_df``'s: per key and column, the new value when
    it is not null. Both in the table's columns (run_id aside)."""
    key = DIM_KEYS[table]
    columns = [f.name for f in DIM_SCHEMAS[table].fields if f.name != "run_id"]
    if earlier_df is None:
        return new_df.select(*columns)
    merged_df = new_df.select(*columns).alias("n").join(
        earlier_df.select(*columns).alias("e"), on=key, how="full_outer")
    return merged_df.select(key, *[F.coalesce(F.col(f"n.{c}"), F.col(f"e.{c}")).alias(c)
                                   for c in columns if c != key])


def derived_states(inputs: Inputs, derived: Mapping[str, DataFrame], skip: set[str]
                   ) -> list[DimSnapshot]:
    """The new state of each derived dimension that has no catalog and is not in ``skip``
    (those this run loads from a landing snapshot). Each is materialized (the write replaces
    the table it was read from)."""
    states = []
    for table, new_df in derived.items():
        if table in skip:
            continue
        if holds_catalog(inputs, table):
            inputs.report.notes[f"derived.{table}"] = "not written: the table holds a catalog"
            continue
        earlier_df = inputs.read(table) if inputs.has(table) else None
        if earlier_df is not None and "origin" not in earlier_df.columns:
            earlier_df = None   # an empty table from before `origin` existed
        state_df = updated(new_df, earlier_df, table).localCheckpoint(eager=True)
        inputs.report.notes[f"derived.{table}"] = "from the logs"
        states.append(DimSnapshot(table, state_df))
    return states
