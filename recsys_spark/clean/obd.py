"""Adapter for the Open Bandit Dataset CSV layout (ZOZOTOWN logged bandit feedback).

Each row ``,timestamp,item_id,position,click,propensity_score,user_feature_0..3,affinities...``
becomes a promo_impression of promotion ``<campaign>-<item_id>`` in slot ``position`` with the
logging policy's ``propensity``; a row with click = 1 also yields a promo_click (record_seq 1)
from the same line. The dataset has no user or session ids: user_id stays null (anonymous) and
each impression is its own session; the hashed user features go to ``extra``. The policy
(random / bts) comes from config or from the dataset's folder layout
``<policy>/<campaign>/<campaign>.csv``. Ids are ``obd-<policy>-<campaign>-<row index>``.
"""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recsys_spark.clean.canonical import BAD_HEADER, BLANK, FIELDS, HEADER, HEADER_LIKE, RECORD, raw
from recsys_spark.clean.reader import POSITION_COLUMNS
from recsys_spark.domain.events import PROMO_CLICK, PROMO_IMPRESSION
from recsys_spark.settings.clean import CleanConfig

SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz")
EXCLUDED_FILES: tuple[str, ...] = ("item_context.csv", "item_context.csv.gz")
# Canonical fields this source never carries: no completeness gate on them.
ABSENT_FIELDS: tuple[str, ...] = ("user_id", "item_id", "category", "brand", "price", "quantity")
USER_FEATURES: tuple[str, ...] = tuple(f"user_feature_{i}" for i in range(4))
COLUMNS: tuple[str, ...] = ("row_index", "timestamp", "item_id", "position", "click",
                            "propensity_score", *USER_FEATURES)
HEADER_PREFIX = ",timestamp,item_id,position,click,propensity_score"
_LAYOUT = r"/([^/]+)/([^/]+)/[^/]+\.csv(\.gz)?$"


def parse(lines_df: DataFrame, config: CleanConfig) -> DataFrame:
    """Raw canonical rows (see canonical.py): one impression per line plus one click per click."""
    schema = ", ".join(f"`{c}` STRING" for c in COLUMNS)
    text = F.trim("value")
    # The header starts with the fixed columns; the user features and affinities vary by campaign.
    kind = (F.when(text == "", F.lit(BLANK)).when(text.startswith(HEADER_PREFIX), F.lit(HEADER))
            .when(text.rlike(HEADER_LIKE), F.lit(BAD_HEADER))
            .otherwise(F.lit(RECORD)))
    body_df = lines_df.withColumn("line_kind", kind)
    r = {c: F.trim(F.col(f"r.{c}")) for c in COLUMNS}
    click = r["click"]
    is_parsed = F.coalesce((F.col("line_kind") == RECORD) & F.col("r").isNotNull()
                           & (F.size(F.split("value", ",", -1)) >= len(COLUMNS))
                           & click.isin("0", "1"), F.lit(False))
    policy = (F.lit(config.obd_policy) if config.obd_policy
              else F.nullif(F.regexp_extract("source_file", _LAYOUT, 1), F.lit("")))
    campaign = F.coalesce(F.nullif(F.regexp_extract("source_file", _LAYOUT, 2), F.lit("")),
                          F.regexp_extract("source_file", r"([^/]+)\.csv(\.gz)?$", 1))
    parsed_df = body_df.select(
        "value", *POSITION_COLUMNS, "line_kind",
        F.from_csv("value", schema, {"mode": "PERMISSIVE"}).alias("r"))
    parsed_df = parsed_df.select("*", is_parsed.alias("is_parsed"), policy.alias("policy"),
                                 campaign.alias("campaign"))
    # record_seq 0 = the impression; 1 = the click, only for parsed rows with click = 1.
    seq_df = parsed_df.withColumn(
        "record_seq", F.explode(F.when(F.col("is_parsed") & (click == "1"), F.array(F.lit(0), F.lit(1)))
                                .otherwise(F.array(F.lit(0)))))
    is_click = F.col("record_seq") == 1
    base_id = F.concat_ws("-", F.lit("obd"), F.col("policy"), F.col("campaign"), r["row_index"])
    has_index = F.col("policy").isNotNull() & (r["row_index"] != "")
    values = {
        "event_id": F.when(has_index, F.when(is_click, F.concat(base_id, F.lit("-click")))
                           .otherwise(base_id)),
        "event_time": r["timestamp"],
        "event_type": F.when(is_click, F.lit(PROMO_CLICK)).otherwise(F.lit(PROMO_IMPRESSION)),
        "session_id": F.when(has_index, base_id),
        "promotion_id": F.when(r["item_id"] != "", F.concat_ws("-", F.col("campaign"), r["item_id"])),
        "position": r["position"], "propensity": r["propensity_score"], "policy": F.col("policy"),
    }
    extra = F.create_map(
        F.lit("obd_campaign"), F.col("campaign"), F.lit("obd_row_index"), r["row_index"],
        *[x for name in USER_FEATURES for x in (F.lit(name), r[name])])
    return seq_df.select(
        F.lit("obd").alias("source"), *POSITION_COLUMNS, "record_seq", "line_kind",
        F.col("value").alias("raw_record"), "is_parsed",
        F.array().cast("array<string>").alias("nested_fields"),
        *[(values[f] if f in values else F.lit(None).cast("string")).alias(raw(f)) for f in FIELDS],
        extra.alias("extra"))
