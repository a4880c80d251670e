"""Typing and validating catalog records: each record is accepted or quarantined with reasons.

Values are trimmed; an empty value is absent. Numbers and dates are parsed with try_cast (ANSI
mode stays on: a bad value is a reason, never a failed job); a date must be written
``YYYY-MM-DD`` (a time after it is ignored); a list (eligible_categories) is a JSON array or
items separated by ``|``.

Reason codes, in the order they are listed:

- ``malformed_record``: the line is not a record (wrong number of CSV fields, not a JSON
  object, a JSON key twice);
- ``bad_key``: the key is missing, longer than ``clean.max_id_chars`` or holds control
  characters;
- ``duplicate_key``: the key occurs on more than one record of the file (every copy is
  quarantined: which one is right cannot be known);
- ``missing_required``: a value every record needs is absent (promotions: promo_type);
- ``bad_type``: a value is present but is not a number / whole number / date / list;
- ``unknown_promo_type``: not one of recsys_spark/domain/promotions.py PROMO_TYPES;
- ``negative_budget``: budget < 0;
- ``end_before_start``: end_date < start_date;
- ``out_of_range``: price outside (clean.price_min, clean.price_max]; a negative
  discount_value or min_spend; a fraction type's discount_value above 1.
"""
from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DataType, DateType, LongType, StringType

from recsys_spark.clean.canonical import blank_to_null
from recsys_spark.clean.catalog.contract import LIST_SEPARATOR, FileContract
from recsys_spark.clean.catalog.model import DIM_SCHEMAS, PROMOTIONS_TABLE
from recsys_spark.domain.promotions import FRACTION_PROMO_TYPES, PROMO_TYPES
from recsys_spark.settings.clean import CleanConfig

REASON_CODES: tuple[str, ...] = (
    "malformed_record", "bad_key", "duplicate_key", "missing_required", "bad_type",
    "unknown_promo_type", "negative_budget", "end_before_start", "out_of_range")
LINE_COLUMNS: tuple[str, ...] = ("source_file", "record_number", "raw_record")
_DATE_TEXT = r"^\d{4}-\d{2}-\d{2}([T ].*)?$"
_CONTROL = r"\p{Cntrl}"
_LARGEST_EXACT_WHOLE = 2.0 ** 53   # doubles above this are no longer exact whole numbers


def raw_value(name: str) -> Column:
    """The trimmed text of column ``name`` of the record; null when absent or empty."""
    return blank_to_null(F.trim(F.try_element_at("fields", F.lit(name))))


def typed_value(text: Column, data_type: DataType) -> Column:
    """``text`` converted to ``data_type``; null when it does not convert."""
    if isinstance(data_type, StringType):
        return text
    if isinstance(data_type, DateType):
        return F.when(text.rlike(_DATE_TEXT), text.try_cast("date"))
    if isinstance(data_type, LongType):
        # Whole numbers only ("10" or "10.0", as Parquet doubles print), never rounded.
        number = text.try_cast("double")
        return F.when((number == F.floor(number)) & (F.abs(number) < _LARGEST_EXACT_WHOLE),
                      number.cast("long"))
    if isinstance(data_type, ArrayType):
        as_json = F.from_json(text, ArrayType(StringType()), {"mode": "PERMISSIVE"})
        as_text = F.split(text, "\\" + LIST_SEPARATOR)
        items = F.when(text.startswith("["), as_json).otherwise(as_text)
        return F.filter(F.transform(items, lambda x: blank_to_null(F.trim(x))),
                        lambda x: x.isNotNull())
    return text.try_cast(data_type)


def with_typed_values(records_df: DataFrame, contract: FileContract) -> DataFrame:
    """Line columns, ``is_parsed``, each contract column typed, and ``bad_fields`` (columns
    whose value is present but did not convert)."""
    schema = DIM_SCHEMAS[contract.table]
    raws = {c: raw_value(c) for c in contract.columns}
    typed = {c: typed_value(raws[c], schema[c].dataType) for c in contract.columns}
    bad = F.filter(F.array(*[F.when(raws[c].isNotNull() & typed[c].isNull(), F.lit(c))
                             for c in contract.columns]), lambda x: x.isNotNull())
    return records_df.select(
        *LINE_COLUMNS, "is_parsed", *[typed[c].alias(c) for c in contract.columns],
        F.when(F.col("is_parsed"), bad).otherwise(F.array().cast("array<string>")).alias("bad_fields"))


def _is_bad_key(key: Column, config: CleanConfig) -> Column:
    return key.isNull() | (F.length(key) > config.max_id_chars) | key.rlike(_CONTROL)


def _range_checks(contract: FileContract, config: CleanConfig) -> Column:
    checks: list[Column] = []
    columns = set(contract.columns)
    if "price" in columns:
        checks.append((F.col("price") <= config.price_min) | (F.col("price") > config.price_max))
    if "discount_value" in columns:
        checks.append(F.col("discount_value") < 0)
        checks.append(F.col("promo_type").isin(*FRACTION_PROMO_TYPES) & (F.col("discount_value") > 1))
    if "min_spend" in columns:
        checks.append(F.col("min_spend") < 0)
    return reduce(lambda a, b: a | b, [F.coalesce(c, F.lit(False)) for c in checks], F.lit(False))


def with_reasons(typed_df: DataFrame, contract: FileContract, config: CleanConfig) -> DataFrame:
    """``typed_df`` plus ``reasons`` (the codes above, in order; empty = accepted).

    Codes after malformed_record are only given to parsed records; duplicate_key only to
    records with a good key.
    """
    parsed = F.col("is_parsed")
    key = F.col(contract.key)
    good_key = parsed & ~_is_bad_key(key, config)
    copies = F.count(F.lit(1)).over(Window.partitionBy(good_key, key))
    bad_field = {c: F.array_contains("bad_fields", c) for c in contract.columns}
    missing = [F.col(c).isNull() & ~bad_field[c] for c in contract.not_null if c != contract.key]
    is_promotions = contract.table == PROMOTIONS_TABLE
    checks: dict[str, Column] = {
        "malformed_record": ~parsed,
        "bad_key": parsed & _is_bad_key(key, config),
        "duplicate_key": good_key & (copies > 1),
        "missing_required": parsed & reduce(lambda a, b: a | b, missing, F.lit(False)),
        "bad_type": parsed & (F.size("bad_fields") > 0),
        "unknown_promo_type": parsed & (F.coalesce(~F.col("promo_type").isin(*PROMO_TYPES), F.lit(False))
                                        if is_promotions else F.lit(False)),
        "negative_budget": parsed & (F.coalesce(F.col("budget") < 0, F.lit(False))
                                     if is_promotions else F.lit(False)),
        "end_before_start": parsed & (F.coalesce(F.col("end_date") < F.col("start_date"), F.lit(False))
                                      if is_promotions else F.lit(False)),
        "out_of_range": parsed & _range_checks(contract, config),
    }
    reasons = F.filter(F.array(*[F.when(checks[code], F.lit(code)) for code in REASON_CODES]),
                       lambda x: x.isNotNull())
    return typed_df.withColumn("reasons", reasons)


def checked_records(records_df: DataFrame, contract: FileContract, config: CleanConfig) -> DataFrame:
    """The file's records typed and given their reasons (see :func:`with_reasons`)."""
    return with_reasons(with_typed_values(records_df, contract), contract, config)
