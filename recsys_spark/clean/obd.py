"""Adapter for the Open Bandit Dataset CSV layout (ZOZOTOWN logged bandit feedback).

Each row ``,timestamp,item_id,position,click,propensity_score,user_feature_0..3,affinities...``
becomes a promo_impression of promotion ``<campaign>-<item_id>`` in slot ``position`` with the
logging policy's ``propensity``; a row with click = 1 also yields a promo_click (record_seq 1)
from the same line. The dataset has no user or session ids: each impression is its own session
and its own anonymous visitor, both ``obd-<policy>-<campaign>-<row index>`` (so a click is
credited to exactly its impression by the bandit's arm statistics and `recsys ope`, which match
rewards to impressions per user and promotion); the hashed user features go to ``extra``. The
policy (random / bts) comes from config or from the dataset's folder layout
``<policy>/<campaign>/<campaign>.csv``. Event ids are the visitor id (``-click`` for a click).

Dimensions (:func:`dimensions`, where no catalog exists): ``item_context.csv`` beside the logs
lists a campaign's items; each becomes an item ``<campaign>-<item_id>`` of category
``<campaign>`` and a promotion (an arm) of the same id, always active, with no type and a null
(unlimited) budget: the dataset's arms are items shown in a slot, not discounts.
"""
from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys_spark.clean.canonical import BAD_HEADER, BLANK, FIELDS, HEADER, HEADER_LIKE, RECORD, raw
from recsys_spark.clean.catalog.model import DERIVED, ITEMS_TABLE, PROMOTIONS_TABLE
from recsys_spark.clean.reader import POSITION_COLUMNS, CleanInputError, file_key, list_input_files
from recsys_spark.domain.events import PROMO_CLICK, PROMO_IMPRESSION
from recsys_spark.settings.clean import CleanConfig

SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz")
EXCLUDED_FILES: tuple[str, ...] = ("item_context.csv", "item_context.csv.gz")
# Canonical fields this source never carries: no completeness gate on them. (user_id is the
# row's own anonymous visitor, see above.)
ABSENT_FIELDS: tuple[str, ...] = ("item_id", "category", "brand", "price", "quantity")
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
        "session_id": F.when(has_index, base_id), "user_id": F.when(has_index, base_id),
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


def _item_context_folder(input_path: str) -> str:
    """The folder holding the input's item_context.csv files (the input, or a CSV's folder)."""
    path = input_path.rstrip("/")
    return path.rsplit("/", 1)[0] if path.lower().endswith(SUFFIXES) else path


def dimensions(spark: SparkSession, input_path: str, events_df: DataFrame) -> dict[str, DataFrame]:
    """items and promotions (the arms) from the ``item_context.csv`` files under the input;
    none when there is no such file."""
    try:
        files = list_input_files(_item_context_folder(input_path), EXCLUDED_FILES)
    except CleanInputError:
        return {}
    if not files:
        return {}
    context_df = spark.read.option("header", True).csv([f.path for f in files])
    campaign = F.regexp_extract(file_key(F.col("_metadata.file_path")), r"([^/]+)/[^/]+$", 1)
    arms_df = (context_df.select(campaign.alias("campaign"), F.trim("item_id").alias("item"))
               .where(F.col("item").isNotNull() & (F.col("item") != "") & (F.col("campaign") != ""))
               .select(F.concat_ws("-", "campaign", "item").alias("id"), "campaign")
               .distinct())   # every policy folder repeats its campaign's item_context.csv
    none = F.lit(None)
    items_df = arms_df.select(
        F.col("id").alias("item_id"), F.col("campaign").alias("category"),
        none.cast("string").alias("brand"), none.cast("double").alias("price"),
        none.cast("string").alias("name"), F.lit(DERIVED).alias("origin"))
    promotions_df = arms_df.select(
        F.col("id").alias("promotion_id"), none.cast("string").alias("name"),
        none.cast("string").alias("promo_type"), none.cast("double").alias("discount_value"),
        none.cast("double").alias("min_spend"),
        none.cast("array<string>").alias("eligible_categories"),
        none.cast("date").alias("start_date"), none.cast("date").alias("end_date"),
        none.cast("long").alias("budget"), F.lit(DERIVED).alias("origin"))
    return {ITEMS_TABLE: items_df, PROMOTIONS_TABLE: promotions_df}
