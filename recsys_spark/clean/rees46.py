"""Adapter for the public REES46 e-commerce behaviour CSV layout.

``event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session``
with times like ``2019-10-01 00:00:00 UTC`` and event types view/cart/remove_from_cart/purchase.
Rows carry no id, so event_id is a fingerprint of the row's content: an identical row delivered
twice is a duplicate. Each purchase row is one unit (quantity 1); category_id goes to ``extra``.
"""
from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys_spark.clean.canonical import FIELDS, RECORD, blank_to_null, line_kind, raw
from recsys_spark.clean.catalog.derived import items_from_events
from recsys_spark.clean.catalog.model import ITEMS_TABLE
from recsys_spark.clean.dedup import content_fingerprint
from recsys_spark.clean.reader import POSITION_COLUMNS
from recsys_spark.settings.clean import CleanConfig

SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz")
COLUMNS: tuple[str, ...] = ("event_time", "event_type", "product_id", "category_id",
                            "category_code", "brand", "price", "user_id", "user_session")
HEADER = ",".join(COLUMNS)
EVENT_TYPE_MAP: dict[str, str] = {"view": "view", "cart": "add_to_cart",
                                  "remove_from_cart": "remove_from_cart", "purchase": "purchase"}


def parse(lines_df: DataFrame, config: CleanConfig) -> DataFrame:
    """Raw canonical rows (see canonical.py); header lines are marked (line_kind header), a
    header of another layout is bad_header."""
    schema = ", ".join(f"`{c}` STRING" for c in COLUMNS)
    csv_df = lines_df.select("value", *POSITION_COLUMNS,
                             line_kind(F.col("value"), HEADER).alias("line_kind"),
                             F.from_csv("value", schema, {"mode": "PERMISSIVE"}).alias("r"))
    # from_csv pads short rows with nulls and drops extra tokens: count the tokens ourselves
    # (exact for unquoted lines; a quoted line is trusted to from_csv).
    tokens_ok = (F.col("value").contains('"')
                 | (F.size(F.split("value", ",", -1)) == len(COLUMNS)))
    is_parsed = F.coalesce((F.col("line_kind") == RECORD) & F.col("r").isNotNull() & tokens_ok,
                           F.lit(False))
    r = {c: F.trim(F.col(f"r.{c}")) for c in COLUMNS}
    # Unknown types pass through unchanged, so the rules flag them as unknown_event_type.
    type_map = F.create_map(*[F.lit(x) for kv in EVENT_TYPE_MAP.items() for x in kv])
    mapped_type = F.coalesce(F.try_element_at(type_map, r["event_type"]), r["event_type"])
    values = {
        "event_id": F.when(is_parsed, F.concat(F.lit("r46-"), F.substring(
            content_fingerprint(*[r[c] for c in COLUMNS]), 1, 32))),
        "event_time": r["event_time"], "event_type": mapped_type, "user_id": r["user_id"],
        "session_id": r["user_session"], "item_id": r["product_id"],
        "category": r["category_code"], "brand": r["brand"], "price": r["price"],
        "quantity": F.when(r["event_type"] == "purchase", F.lit("1")),
    }
    category_id = blank_to_null(r["category_id"])
    extra = F.when(category_id.isNotNull(), F.create_map(F.lit("category_id"), category_id)) \
        .otherwise(F.create_map().cast("map<string,string>"))
    return csv_df.select(
        F.lit("rees46").alias("source"), *POSITION_COLUMNS,
        F.lit(0).alias("record_seq"), "line_kind", F.col("value").alias("raw_record"),
        is_parsed.alias("is_parsed"), F.array().cast("array<string>").alias("nested_fields"),
        *[(values[f] if f in values else F.lit(None).cast("string")).alias(raw(f)) for f in FIELDS],
        extra.alias("extra"))


def dimensions(spark: SparkSession, input_path: str, events_df: DataFrame) -> dict[str, DataFrame]:
    """Dimensions REES46 logs fill where no catalog exists: items (last seen category_code,
    brand, price) from the events."""
    return {ITEMS_TABLE: items_from_events(events_df)}
