"""Tables written by the clean stage and `recsys catalog import`: events, events_quarantine,
the dimensions items, users, promotions, and catalog_quarantine."""
from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructType,
    TimestampType,
)

from recsys_spark.schemas.spec import CHANGE_DATA_FEED, TableSpec, col

EVENTS = StructType([
    col("event_id", StringType(), "globally unique event id (REES46: content fingerprint)",
        nullable=False),
    col("event_time", TimestampType(), "when the event happened (UTC)", nullable=False),
    col("event_date", DateType(), "UTC date of event_time (partition column)", nullable=False),
    col("event_type", StringType(), "view, click, add_to_cart, remove_from_cart, purchase, "
        "promo_impression, promo_click, promo_redeem", nullable=False),
    col("user_id", StringType(), "user id (HMAC pseudonym when privacy is on); null = anonymous"),
    col("session_id", StringType(), "session id", nullable=False),
    col("item_id", StringType(), "item (view/click/cart/purchase events)"),
    col("category", StringType(), "category 'top.sub'"),
    col("brand", StringType(), "brand"),
    col("price", DoubleType(), "unit price in EUR (> 0)"),
    col("quantity", IntegerType(), "units (purchase)"),
    col("promotion_id", StringType(), "promotion (promo events; purchases made with one)"),
    col("position", IntegerType(), "slot 1..N of a promo_impression"),
    col("propensity", DoubleType(), "logging policy's probability of this promotion in this slot"),
    col("policy", StringType(), "logging policy name of a promo_impression"),
    col("source", StringType(), "adapter: jsonl | rees46 | obd", nullable=False),
    col("source_file", StringType(), "raw file the event came from"),
    col("ingested_run_id", StringType(), "clean run that ingested the event", nullable=False),
    col("run_date", DateType(), "run date of the clean run that ingested the event (partition "
        "column, inside event_date: a clean run replaces only its own partitions)", nullable=False),
    col("extra", MapType(StringType(), StringType()), "unknown raw fields (schema drift), as text"),
])

EVENTS_QUARANTINE = StructType([
    col("run_id", StringType(), "clean run that rejected the record", nullable=False),
    col("run_date", DateType(), "run date (partition column)", nullable=False),
    col("source", StringType(), "adapter: jsonl | rees46 | obd", nullable=False),
    col("source_file", StringType(), "raw file", nullable=False),
    col("line_number", LongType(), "1-based line in the raw file; null for an unreadable file"),
    col("record_seq", IntegerType(), "record within the line (OBD: 0 impression, 1 click)"),
    col("raw_record", StringType(), "the raw line as text (invalid UTF-8 bytes replaced by U+FFFD; "
        "cut to clean.max_record_bytes characters; with pseudonymization on, user ids replaced "
        "or the text dropped: clean.privacy.quarantine_raw)"),
    col("reasons", ArrayType(StringType()), "reason codes: bad_header, malformed_record, "
        "encoding, size_violation, missing_required, bad_type, unknown_event_type, out_of_range, "
        "future_ts, too_old, bot_traffic, truncated_file (one row for a file's lost rest)",
        nullable=False),
    col("event_id", StringType(), "event id when it could be read"),
    col("event_time", TimestampType(), "event time when it could be read (UTC)"),
    col("detail", StringType(), "what the reason codes alone do not say (a truncated file's lines "
        "read, an oversized record's length, a nested value's field); null otherwise"),
])

ITEMS = StructType([
    col("item_id", StringType(), "item id", nullable=False),
    col("category", StringType(), "category 'top.sub'"),
    col("brand", StringType(), "brand"),
    col("price", DoubleType(), "list price in EUR"),
    col("name", StringType(), "display name"),
    col("origin", StringType(), "catalog (a shop's catalog: imported or a landing snapshot) | "
        "derived (built by clean from the logs: last seen category, brand, price)"),
    col("run_id", StringType(), "run that wrote the row (clean or catalog import)", nullable=False),
])

USERS = StructType([
    col("user_id", StringType(), "user id (HMAC pseudonym when privacy is on)", nullable=False),
    col("signup_date", DateType(), "signup date"),
    col("region", StringType(), "region"),
    col("device", StringType(), "main device"),
    col("run_id", StringType(), "run that wrote the row (clean or catalog import)", nullable=False),
])

PROMOTIONS = StructType([
    col("promotion_id", StringType(), "promotion id", nullable=False),
    col("name", StringType(), "display name"),
    col("promo_type", StringType(), "percent_off | amount_off_over_threshold | gift | "
        "free_shipping | coupon"),
    col("discount_value", DoubleType(), "fraction (percent_off, coupon) or EUR amount"),
    col("min_spend", DoubleType(), "minimum basket in EUR (0 = none)"),
    col("eligible_categories", ArrayType(StringType()), "top-level categories; empty = all"),
    col("start_date", DateType(), "first day (inclusive); null = no start limit"),
    col("end_date", DateType(), "last day (inclusive); null = no end"),
    col("budget", LongType(), "maximum redemptions; null = unlimited. Served while active and "
        "redemptions so far < budget (recsys_spark/domain/promotions.py)"),
    col("origin", StringType(), "catalog (imported or a landing snapshot) | derived (built by "
        "clean from the logs, e.g. the Open Bandit arms)"),
    col("run_id", StringType(), "run that wrote the row (clean or catalog import)", nullable=False),
])

CATALOG_QUARANTINE = StructType([
    col("run_id", StringType(), "catalog import run that rejected the record", nullable=False),
    col("run_date", DateType(), "the import's --as-of date (partition column)", nullable=False),
    col("dimension", StringType(), "items | promotions | users (partition column)",
        nullable=False),
    col("source_file", StringType(), "catalog file", nullable=False),
    col("record_number", LongType(), "1-based line (CSV: the header is line 1; JSON Lines) or "
        "row (Parquet) in the file", nullable=False),
    col("raw_record", StringType(), "the record as text (Parquet: as JSON)"),
    col("reasons", ArrayType(StringType()), "reason codes: malformed_record, bad_key, "
        "duplicate_key, missing_required, bad_type, unknown_promo_type, negative_budget, "
        "end_before_start, out_of_range (docs/real_data.md)", nullable=False),
    col("record_key", StringType(), "the record's key (item_id, promotion_id, user_id) when it "
        "could be read; users: HMAC pseudonym when privacy is on"),
])

TABLES = {
    "events": TableSpec(
        "events", EVENTS,
        "Clean events, one row per event, deduplicated by event_id. Late events sit in their own "
        "event_date partition (within clean.lookback_days). Bot traffic is not here (quarantined). "
        "Partitioned by (event_date, run_date): the clean run of date D owns the partitions "
        "run_date=D and replaces only those, so runs of different dates never rewrite each "
        "other's rows and can commit concurrently.",
        partition_by=("event_date", "run_date"), keys=("event_id",), written_by="clean",
        table_properties={CHANGE_DATA_FEED: "true"},
        example_queries={"Daily funnel": (
            "SELECT event_date, event_type, count(*) AS events FROM events\n"
            "GROUP BY event_date, event_type ORDER BY event_date, event_type")}),
    "events_quarantine": TableSpec(
        "events_quarantine", EVENTS_QUARANTINE,
        "Rejected raw records with their reason codes; replaced per run date.",
        partition_by=("run_date",), keys=("source_file", "line_number", "record_seq"),
        written_by="clean",
        example_queries={"Rejects by reason": (
            "SELECT run_date, reason, count(*) FROM events_quarantine\n"
            "LATERAL VIEW explode(reasons) r AS reason GROUP BY run_date, reason")}),
    "items": TableSpec("items", ITEMS, "Item catalog, latest state: a shop's catalog (`recsys "
                       "catalog import` or the landing snapshot), or where none exists, derived "
                       "by clean from the events.", keys=("item_id",),
                       written_by="clean", write_mode="snapshot"),
    "users": TableSpec("users", USERS, "Users, latest state (`recsys catalog import` or the landing "
                       "snapshot).", keys=("user_id",), written_by="clean", write_mode="snapshot"),
    "promotions": TableSpec("promotions", PROMOTIONS, "Promotions, latest state (`recsys catalog "
                            "import`, the landing snapshot, or the Open Bandit arms).",
                            keys=("promotion_id",), written_by="clean", write_mode="snapshot"),
    "catalog_quarantine": TableSpec(
        "catalog_quarantine", CATALOG_QUARANTINE,
        "Catalog records `recsys catalog import` rejected, with reason codes; replaced per "
        "(as-of date, dimension). Written only when the import passed its gate.",
        partition_by=("run_date", "dimension"), keys=("source_file", "record_number"),
        written_by="catalog import",
        example_queries={"Rejects by reason": (
            "SELECT run_date, dimension, reason, count(*) FROM catalog_quarantine\n"
            "LATERAL VIEW explode(reasons) r AS reason GROUP BY run_date, dimension, reason")}),
}
