"""The canonical parsed record every adapter produces, and its typing step.

An adapter turns raw lines into *raw canonical* rows: the source line (``raw_record``, its
position columns from reader.py, ``record_seq``, ``line_kind``: record, blank or header),
``is_parsed`` (the record's structure could be read), ``nested_fields`` (string fields that held
a JSON object or array), one string column ``raw_<field>`` per canonical field and ``extra``.
:func:`with_typed_fields` then types every field with ``try_cast``/``try_to_timestamp`` (ANSI
mode stays on: one bad value never kills the job) and records parse-level reasons.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, DoubleType, IntegerType, StringType, TimestampType

from recsys_spark.clean.reader import POSITION_COLUMNS

# Canonical fields and their types, in the order of the `events` table.
FIELD_TYPES: dict[str, DataType] = {
    "event_id": StringType(), "event_time": TimestampType(), "event_type": StringType(),
    "user_id": StringType(), "session_id": StringType(), "item_id": StringType(),
    "category": StringType(), "brand": StringType(), "price": DoubleType(),
    "quantity": IntegerType(), "promotion_id": StringType(), "position": IntegerType(),
    "propensity": DoubleType(), "policy": StringType(),
}
FIELDS: tuple[str, ...] = tuple(FIELD_TYPES)
ID_FIELDS: tuple[str, ...] = ("event_id", "user_id", "session_id", "item_id", "promotion_id")
LINE_COLUMNS: tuple[str, ...] = ("source", *POSITION_COLUMNS, "record_seq", "line_kind",
                                  "raw_record")
RECORD, BLANK, HEADER, BAD_HEADER = "record", "blank", "header", "bad_header"
# Lines that are input records: a header of another layout is one too (it is rejected).
RECORD_KINDS: tuple[str, ...] = (RECORD, BAD_HEADER)
# A CSV line whose every field is empty or starts like a name (a data line has dates, numbers).
HEADER_LIKE = r"^([A-Za-z_][A-Za-z0-9_ ]*)?(,([A-Za-z_][A-Za-z0-9_ ]*)?)+$"
# Columns of the typed record (input of the rules).
TYPED_COLUMNS: tuple[str, ...] = (*LINE_COLUMNS, *FIELDS, "event_date", "extra", "parse_reasons",
                                  "bad_fields", "nested_fields")

# A timestamp string that states its offset ("...Z", "...+02:00", "... UTC") is an instant;
# one without is local time of the source's configured zone.
_HAS_OFFSET = r"(?i)\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(z|[+-]\d{2}(:?\d{2})?|utc|gmt)$"


def raw(name: str) -> str:
    """Name of the raw string column of canonical field ``name``."""
    return f"raw_{name}"


def blank_to_null(column: Column) -> Column:
    """Empty or whitespace-only text counts as absent (CSV's empty fields)."""
    return F.when(F.trim(column) != "", column)


def parse_instant(text: Column, time_zone: str) -> Column:
    """UTC timestamp from ISO-like text; null when unparsable. The session zone must be UTC."""
    parsed = F.try_to_timestamp(text)
    if time_zone == "UTC":
        return parsed
    return F.when(text.rlike(_HAS_OFFSET), parsed).otherwise(F.to_utc_timestamp(parsed, time_zone))


def line_kind(value: Column, header: str | None = None) -> Column:
    """record, blank (whitespace only: not a record, but it has a line number) or header."""
    kind = F.when(F.trim(value) == "", F.lit(BLANK))
    if header is not None:
        # A line of names only that is not the expected header: another layout, whose rows
        # cannot be trusted column by column (the stage quarantines the file).
        kind = (kind.when(F.trim(value) == header, F.lit(HEADER))
                .when(F.trim(value).rlike(HEADER_LIKE), F.lit(BAD_HEADER)))
    return kind.otherwise(F.lit(RECORD))


def _typed(name: str, time_zone: str) -> Column:
    text = F.trim(F.col(raw(name)))
    target = FIELD_TYPES[name]
    if isinstance(target, TimestampType):
        return parse_instant(text, time_zone)
    if isinstance(target, StringType):
        # A JSON object or array where a string belongs is a bad type, not an id.
        return F.when(~F.array_contains("nested_fields", name), F.col(raw(name)))
    return text.try_cast(target)


def with_typed_fields(raw_df: DataFrame, time_zone: str) -> DataFrame:
    """Typed canonical columns plus ``parse_reasons`` and ``bad_fields``.

    Returns the :data:`TYPED_COLUMNS`. ``parse_reasons`` holds malformed_record (the structure
    could not be read), encoding (the raw bytes are not valid UTF-8) and bad_type (a value is
    present but does not convert); ``bad_fields`` names the fields with a bad type, so the
    rules do not also call them missing. ``raw_record`` is made valid UTF-8 for storage.
    """
    normalized_df = raw_df.select(
        *LINE_COLUMNS, "is_parsed", "extra", "nested_fields",
        *[blank_to_null(F.col(raw(f))).alias(raw(f)) for f in FIELDS])
    typed_df = normalized_df.select(
        "*", *[_typed(f, time_zone).alias(f) for f in FIELDS])
    bad = [F.when(F.col(raw(f)).isNotNull() & F.col(f).isNull(), F.lit(f)) for f in FIELDS]
    bad_fields = F.filter(F.array(*bad), lambda x: x.isNotNull())
    bad_fields = F.when(F.col("is_parsed"), bad_fields).otherwise(F.array().cast("array<string>"))
    reasons = F.filter(F.array(
        F.when(F.col("line_kind") == BAD_HEADER, F.lit("bad_header"))
        .when(~F.col("is_parsed"), F.lit("malformed_record")),
        F.when(F.col("raw_record").isNotNull() & ~F.is_valid_utf8("raw_record"), F.lit("encoding")),
        F.when(F.size(bad_fields) > 0, F.lit("bad_type")),
    ), lambda x: x.isNotNull())
    return typed_df.select(
        *[c for c in LINE_COLUMNS if c != "raw_record"],
        F.make_valid_utf8("raw_record").alias("raw_record"),
        *FIELDS,
        F.to_date("event_time").alias("event_date"),
        F.when(F.col("is_parsed"), F.col("extra")).alias("extra"),
        reasons.alias("parse_reasons"),
        bad_fields.alias("bad_fields"),
        "nested_fields")
