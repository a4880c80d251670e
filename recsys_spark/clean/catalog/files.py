"""Reading a catalog file (CSV, JSON Lines or Parquet; a file or a folder of one format) into
one shape: a record per line or row, with every value as text.

Returns ``source_file``, ``record_number`` (CSV/JSON Lines: the 1-based line, the CSV header
being line 1; Parquet: the 1-based row), ``raw_record`` (Parquet: the row as JSON),
``is_parsed`` and ``fields`` (``map<string,string>``: column -> value as written). Values are
typed later by rules.py with try_cast, so a bad value is a quarantine reason, never a failed
job. CSV and JSON Lines are read as numbered lines (clean/reader.py), one record per line;
blank lines are not records.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, MapType, StringType, StructType

from recsys_spark.clean.canonical import BLANK, line_kind
from recsys_spark.clean.reader import (
    CleanInputError,
    FileStats,
    InputFile,
    file_key,
    file_problems,
    list_input_files,
    read_lines,
    with_line_numbers,
)

CSV, JSONL, PARQUET = "csv", "jsonl", "parquet"
SUFFIXES: dict[str, tuple[str, ...]] = {
    CSV: (".csv", ".csv.gz"),
    JSONL: (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson", ".ndjson.gz"),
    PARQUET: (".parquet",),
}
RECORD_COLUMNS: tuple[str, ...] = ("source_file", "record_number", "raw_record", "is_parsed", "fields")
_MAX_JSON_KEYS = 1000   # distinct keys collected from a JSON Lines file (its "columns")


class CatalogFileError(CleanInputError):
    """A catalog file cannot be used as given (not found, unknown format, unreadable, no
    header, missing required columns); nothing was committed."""


@dataclass(frozen=True)
class CatalogRecords:
    """One catalog file's records and the columns it has."""

    path: str
    format: str
    columns: tuple[str, ...]
    records_df: DataFrame     # RECORD_COLUMNS


def file_format(path: str, files: list[InputFile]) -> str:
    """The one format of ``files`` (by suffix).

    Raises:
        CatalogFileError: no file with a known suffix, or several formats mixed.
    """
    found = {fmt for f in files for fmt, suffixes in SUFFIXES.items()
             if f.path.lower().endswith(suffixes)}
    if not found:
        known = ", ".join(s for suffixes in SUFFIXES.values() for s in suffixes)
        raise CatalogFileError(f"{path}: no catalog file with a known suffix ({known})")
    if len(found) > 1:
        raise CatalogFileError(f"{path}: mixes formats ({', '.join(sorted(found))}); give one format")
    return found.pop()


def read_catalog_file(spark: SparkSession, path: str) -> CatalogRecords:
    """The records of the catalog file (or folder) ``path``.

    Raises:
        CatalogFileError: see the class.
    """
    try:
        files = list_input_files(path, [s for suffixes in SUFFIXES.values() for s in suffixes])
    except CleanInputError:
        raise CatalogFileError(f"catalog file not found: {path}") from None
    fmt = file_format(path, files)
    if fmt == PARQUET:
        return _read_parquet(spark, path, files)
    lines_df = _numbered_lines(spark, files, fmt)
    if fmt == CSV:
        return _read_csv(path, lines_df)
    return _read_jsonl(path, lines_df)


def _numbered_lines(spark: SparkSession, files: list[InputFile], fmt: str) -> DataFrame:
    """``value``, ``source_file`` and the 1-based ``line_number`` of every non-blank line.

    Raises:
        CatalogFileError: a file could not be read whole (not decodable, a cut gzip).
    """
    lines_df = read_lines(spark, files).select(
        "*", F.lit(0).alias("record_seq"), line_kind(F.col("value")).alias("line_kind"))
    stats = FileStats.collect(lines_df)   # one small row per file split
    problems = file_problems(files, stats)
    if problems:
        raise CatalogFileError(f"{problems[0].path}: cannot be read as {fmt.upper()} "
                               f"({problems[0].detail})")
    return (with_line_numbers(lines_df, stats.offsets_df(spark))
            .where(F.col("line_kind") != BLANK)
            .select("value", "source_file", "line_number"))


def _header(text: str, source_file: str) -> tuple[str, ...]:
    names = tuple(name.strip().lstrip("\ufeff").strip() for name in next(csv.reader([text])))
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated or "" in names:
        problem = f"column {duplicated[0]!r} twice" if duplicated else "an empty column name"
        raise CatalogFileError(f"{source_file}: the header has {problem}")
    return names


def _read_csv(path: str, lines_df: DataFrame) -> CatalogRecords:
    # One header line per file: a small collect.
    headers = {r["source_file"]: _header(r["value"], r["source_file"])
               for r in lines_df.where(F.col("line_number") == 1).collect()}
    if not headers:
        raise CatalogFileError(f"{path}: empty CSV (no header line)")
    if len(set(headers.values())) > 1:
        raise CatalogFileError(f"{path}: the CSV files have different headers")
    columns = next(iter(headers.values()))
    schema = ", ".join(f"`{c}` STRING" for c in columns)
    parsed_df = lines_df.where(F.col("line_number") > 1).select(
        "source_file", "line_number", "value",
        F.from_csv("value", schema, {"mode": "PERMISSIVE"}).alias("r"))
    # from_csv pads short rows and drops extra tokens: count them for unquoted lines (a quoted
    # line is trusted to from_csv).
    tokens_ok = F.col("value").contains('"') | (F.size(F.split("value", ",", -1)) == len(columns))
    fields = F.create_map(*[x for c in columns for x in (F.lit(c), F.col(f"r.`{c}`"))])
    return CatalogRecords(path, CSV, columns, parsed_df.select(
        "source_file", F.col("line_number").alias("record_number"),
        F.col("value").alias("raw_record"),
        F.coalesce(F.col("r").isNotNull() & tokens_ok, F.lit(False)).alias("is_parsed"),
        fields.alias("fields")))


def _read_jsonl(path: str, lines_df: DataFrame) -> CatalogRecords:
    record = F.from_json("value", MapType(StringType(), StringType()), {"mode": "PERMISSIVE"})
    parsed_df = lines_df.select(
        "source_file", F.col("line_number").alias("record_number"), F.col("value").alias("raw_record"),
        record.alias("fields"), F.expr("json_object_keys(value)").alias("_keys"))
    # A line that is not one JSON object, or names a key twice, is malformed.
    is_parsed = F.coalesce(F.col("fields").isNotNull()
                           & (F.size("_keys") == F.size(F.array_distinct("_keys"))), F.lit(False))
    records_df = parsed_df.select("source_file", "record_number", "raw_record",
                                  is_parsed.alias("is_parsed"),
                                  F.when(is_parsed, F.col("fields")).alias("fields"))
    keys = (records_df.where("is_parsed").select(F.explode(F.map_keys("fields")).alias("k"))
            .distinct().limit(_MAX_JSON_KEYS).collect())
    if not keys and records_df.limit(1).count() > 0:
        raise CatalogFileError(f"{path}: no line is a JSON object (is it JSON Lines?)")
    return CatalogRecords(path, JSONL, tuple(sorted(r["k"] for r in keys)), records_df)


def _as_text(column: Column, data_type: object) -> Column:
    """A Parquet value as the text a CSV would hold (arrays and structs as JSON)."""
    if isinstance(data_type, (ArrayType, MapType, StructType)):
        return F.to_json(column)
    return column.cast("string")


def _read_parquet(spark: SparkSession, path: str, files: list[InputFile]) -> CatalogRecords:
    data_df = spark.read.parquet(*[f.path for f in files])
    columns = tuple(data_df.columns)
    fields = F.create_map(*[x for f in data_df.schema.fields
                            for x in (F.lit(f.name), _as_text(F.col(f"`{f.name}`"), f.dataType))])
    return CatalogRecords(path, PARQUET, columns, data_df.select(
        file_key(F.col("_metadata.file_path")).alias("source_file"),
        (F.col("_metadata.row_index") + 1).alias("record_number"),
        F.to_json(F.struct(*[F.col(f"`{c}`") for c in columns]),
                  {"ignoreNullFields": "false"}).alias("raw_record"),
        F.lit(True).alias("is_parsed"),
        fields.alias("fields")))
