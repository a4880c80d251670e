"""Validation rules: each typed record gets the array of reason codes that reject it.

A record with an empty ``reasons`` array is valid. Codes, in this fixed order:
bad_header, malformed_record, encoding, size_violation, missing_required, bad_type,
unknown_event_type, out_of_range, future_ts, too_old, bot_traffic; a file that lost content is
quarantined as one more record with truncated_file (or malformed_record when nothing of it
could be read).

Bots are quarantined, not kept with a flag: every later stage (popularity, similarity, ALS,
response rates, bandit rewards) reads `events` and would otherwise have to remember to filter
them; quarantine keeps the rows for audit and a rerun with another threshold restores them.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from recsys_spark.clean.canonical import ID_FIELDS
from recsys_spark.domain.events import EVENT_TYPES, ITEM_EVENT_TYPES, PROMO_EVENT_TYPES, PROMO_IMPRESSION
from recsys_spark.settings.clean import CleanConfig

REASON_CODES: tuple[str, ...] = (
    "bad_header", "malformed_record", "encoding", "size_violation", "missing_required", "bad_type",
    "unknown_event_type", "out_of_range", "future_ts", "too_old", "bot_traffic", "truncated_file")
# Reasons a record gets from the file it is in rather than from its own content.
FILE_REASONS: tuple[str, ...] = ("truncated_file",)

ALWAYS_REQUIRED: tuple[str, ...] = ("event_id", "event_time", "event_type", "session_id")
# Fields required by event type, beyond ALWAYS_REQUIRED (the raw-format contract).
REQUIRED_BY_TYPE: dict[str, tuple[str, ...]] = {
    **{t: ("item_id",) for t in ITEM_EVENT_TYPES},
    "add_to_cart": ("item_id", "price"),
    "purchase": ("item_id", "price", "quantity"),
    **{t: ("promotion_id",) for t in PROMO_EVENT_TYPES},
    PROMO_IMPRESSION: ("promotion_id", "position", "propensity", "policy"),
}


def _missing(field: str) -> Column:
    """The field is absent (null and not merely of a bad type)."""
    return F.col(field).isNull() & ~F.array_contains("bad_fields", field)


def _missing_required() -> Column:
    conditions = [_missing(f) for f in ALWAYS_REQUIRED]
    for event_type, fields in REQUIRED_BY_TYPE.items():
        conditions.append((F.col("event_type") == event_type)
                          & F.greatest(*[_missing(f) for f in fields], F.lit(False)))
    return F.coalesce(F.greatest(*conditions), F.lit(False))


def _out_of_range(config: CleanConfig) -> Column:
    price, quantity = F.col("price"), F.col("quantity")
    propensity, position = F.col("propensity"), F.col("position")
    return F.coalesce(F.greatest(
        F.coalesce(price.isNaN() | (price <= config.price_min) | (price > config.price_max), F.lit(False)),
        F.coalesce((quantity < 1) | (quantity > config.max_quantity), F.lit(False)),
        F.coalesce(propensity.isNaN() | (propensity <= 0) | (propensity > 1), F.lit(False)),
        F.coalesce(position < 1, F.lit(False)),
    ), F.lit(False))


def _size_violation(config: CleanConfig) -> Column:
    too_long_id = F.greatest(*[F.coalesce(F.length(f) > config.max_id_chars, F.lit(False))
                               for f in ID_FIELDS])
    return F.coalesce(F.octet_length("raw_record") > config.max_record_bytes, F.lit(False)) | too_long_id


def with_rule_reasons(typed_df: DataFrame, run_date: dt.date, config: CleanConfig) -> DataFrame:
    """Adds ``reasons`` (array<string>, empty when valid) from the parse reasons and the rules.

    Time rules are relative to the run date, never the wall clock, so reruns agree:
    future_ts = later than the end of the run date plus ``future_tolerance_minutes``;
    too_old = event_date earlier than ``run_date - lookback_days``.
    A malformed record gets no field-level reasons (its fields are unknown).
    """
    end_of_day = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time())
    future_limit = end_of_day + dt.timedelta(minutes=config.future_tolerance_minutes)
    oldest_date = run_date - dt.timedelta(days=config.lookback_days)
    parsed = ~F.array_contains("parse_reasons", "malformed_record") & \
        ~F.array_contains("parse_reasons", "bad_header")
    checks: dict[str, Column] = {
        "size_violation": _size_violation(config),
        "missing_required": parsed & _missing_required(),
        "unknown_event_type": parsed & F.coalesce(~F.col("event_type").isin(*EVENT_TYPES), F.lit(False)),
        "out_of_range": parsed & _out_of_range(config),
        # The literal is a naive datetime; the session time zone is UTC (spark.py).
        "future_ts": parsed & F.coalesce(F.col("event_time") > F.lit(future_limit), F.lit(False)),
        "too_old": parsed & F.coalesce(F.col("event_date") < F.lit(oldest_date), F.lit(False)),
    }
    codes = [F.when(F.array_contains("parse_reasons", code), F.lit(code)) if code not in checks
             else F.when(checks[code], F.lit(code)) for code in REASON_CODES
             if code not in ("bot_traffic", *FILE_REASONS)]
    return typed_df.withColumn("reasons", F.filter(F.array(*codes), lambda x: x.isNotNull()))


def bot_key() -> Column:
    """Who a bot is: the user, or the session of an anonymous visitor."""
    return F.coalesce(F.concat(F.lit("u:"), F.col("user_id")), F.concat(F.lit("s:"), F.col("session_id")))


def bot_keys(checked_df: DataFrame, config: CleanConfig) -> DataFrame:
    """The bot keys (one ``bot_key`` column, distinct) of a run's records: users (or anonymous
    sessions) with more than ``bot_max_events_per_minute`` distinct events in some minute.

    Distinct event ids are counted, so re-delivered duplicates do not make a user a bot;
    malformed records and records without a time do not count.
    """
    countable = (~F.array_contains("reasons", "malformed_record") & F.col("event_time").isNotNull()
                 & bot_key().isNotNull())
    return (checked_df.where(countable)
            .groupBy(bot_key().alias("bot_key"), F.date_trunc("minute", "event_time").alias("_minute"))
            .agg(F.count_distinct("event_id").alias("_events"))
            .where(F.col("_events") > config.bot_max_events_per_minute)
            .select("bot_key").distinct())


def with_bot_reason(checked_df: DataFrame, bots_df: DataFrame, broadcast: bool = True) -> DataFrame:
    """Adds ``bot_key`` and appends bot_traffic to every record of a key in ``bots_df`` (see
    :func:`bot_keys`; usually small, so broadcast unless ``broadcast`` is off)."""
    keys_df = bots_df.withColumn("_is_bot", F.lit(True))
    flagged_df = (checked_df.withColumn("bot_key", bot_key())
                  .join(F.broadcast(keys_df) if broadcast else keys_df, "bot_key", "left"))
    reasons = F.when(F.col("_is_bot"), F.array_append("reasons", F.lit("bot_traffic"))) \
        .otherwise(F.col("reasons"))
    return flagged_df.withColumn("reasons", reasons).drop("_is_bot")
