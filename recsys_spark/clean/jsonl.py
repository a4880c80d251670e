"""Adapter for the canonical raw format: JSON Lines (plain or gzip), one event object per line.

Each line is parsed with an explicit schema, ``map<string,string>``: Spark's JSON reader turns
every value into text (numbers as written, objects as JSON), so a field of the wrong JSON type
is caught later by ``try_cast`` as bad_type instead of nulling the whole record, and unknown
fields survive into ``extra`` without being declared. A line that is not a JSON object, or has
a key twice, is malformed_record. A string field holding a JSON object or array (``"user_id": {"id": 7}``) is
named in ``nested_fields`` and becomes bad_type: the map would otherwise hand over its JSON text
as if it were an id.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import MapType, StringType

from recsys_spark.clean.canonical import FIELD_TYPES, FIELDS, line_kind, raw
from recsys_spark.clean.catalog.derived import items_from_events
from recsys_spark.clean.catalog.model import ITEMS_TABLE
from recsys_spark.clean.reader import POSITION_COLUMNS
from recsys_spark.settings.clean import CleanConfig

SUFFIXES: tuple[str, ...] = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson", ".ndjson.gz")
_RECORD_SCHEMA = MapType(StringType(), StringType())


def parse(lines_df: DataFrame, config: CleanConfig) -> DataFrame:
    """Raw canonical rows (see canonical.py) from ``value, source_file, line_number`` lines."""
    aliases: dict[str, list[str]] = {f: [f] for f in FIELDS}
    for raw_name, canonical_name in config.renames.items():
        if canonical_name in aliases:
            aliases[canonical_name].append(raw_name)
    known = sorted({name for names in aliases.values() for name in names})
    dropped = list(config.privacy.dropped_fields)
    record_df = lines_df.select(
        "value", *POSITION_COLUMNS,
        F.from_json("value", _RECORD_SCHEMA, {"mode": "PERMISSIVE"}).alias("record"),
        F.expr("json_object_keys(value)").alias("keys"))
    is_parsed = (F.col("record").isNotNull()
                 & (F.size("keys") == F.size(F.array_distinct("keys"))))
    known_col = F.array(*[F.lit(k) for k in known])
    dropped_col = F.array(*[F.lit(k) for k in dropped]) if dropped else F.array().cast("array<string>")
    extra = F.map_filter("record", lambda k, _v: ~F.array_contains(known_col, k)
                         & ~F.array_contains(dropped_col, F.lower(k)))
    return record_df.select(
        F.lit("jsonl").alias("source"), *POSITION_COLUMNS,
        F.lit(0).alias("record_seq"), line_kind(F.col("value")).alias("line_kind"),
        F.col("value").alias("raw_record"),
        F.coalesce(is_parsed, F.lit(False)).alias("is_parsed"),
        _nested_fields(aliases).alias("nested_fields"),
        *[F.coalesce(*[F.try_element_at("record", F.lit(name)) for name in names]).alias(raw(f))
          for f, names in aliases.items()],
        extra.alias("extra"))


def _nested_fields(aliases: dict[str, list[str]]) -> Column:
    """Canonical string fields whose raw value is a JSON object or array. A flat record has one
    ``{`` (its first character) and no ``[``, so the regex runs only on the rare other lines."""
    names = {name: field for field, names in aliases.items()
             if isinstance(FIELD_TYPES[field], StringType) for name in names}
    pattern = '"(' + "|".join(sorted(names)) + r')"\s*:\s*[\[{]'
    found = F.regexp_extract_all("value", F.lit(pattern), 1)
    to_field = F.create_map(*[F.lit(x) for kv in names.items() for x in kv])
    may_nest = (F.locate("{", F.col("value"), 2) > 0) | (F.locate("[", F.col("value")) > 0)
    return F.when(may_nest, F.array_distinct(F.transform(found, lambda n: to_field[n]))) \
        .otherwise(F.array().cast("array<string>"))


def dimensions(spark: SparkSession, input_path: str, events_df: DataFrame) -> dict[str, DataFrame]:
    """Dimensions this source can derive where no catalog exists: items from the events."""
    return {ITEMS_TABLE: items_from_events(events_df)}
