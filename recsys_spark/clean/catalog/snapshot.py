"""Catalog snapshots landed beside the events -> the `items`, `users` and `promotions` states.

The landing area holds a full snapshot per day (``<landing>/catalog/date=D/<table>.jsonl.gz``);
the clean run for date D loads D's snapshot. Values are read as text with an explicit schema and
converted with try_cast, so a bad value becomes null instead of failing the run; rows without
a key are dropped (counted), and a key delivered twice keeps one row chosen deterministically.
(A shop's own files go through `recsys catalog import` instead, which quarantines bad rows.)
"""
from __future__ import annotations

import logging

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StringType, StructField, StructType

from recsys_spark.clean.catalog.model import CATALOG, DIM_KEYS, DIM_SCHEMAS, USERS_TABLE, DimSnapshot
from recsys_spark.clean.privacy import pseudonymize
from recsys_spark.clean.reader import CleanInputError, list_input_files

log = logging.getLogger(__name__)

_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz")
_NOT_READ = ("run_id", "origin")   # set by the loader, not by the feed


def _text_schema(schema: StructType) -> StructType:
    """The raw reading schema: every column as text except arrays (as arrays of text)."""
    return StructType([StructField(f.name, ArrayType(StringType()) if isinstance(f.dataType, ArrayType)
                                   else StringType(), True)
                       for f in schema.fields if f.name not in _NOT_READ])


def read_snapshot(spark: SparkSession, folder: str, hmac_key: bytes | None) -> list[DimSnapshot]:
    """The dimension snapshots found in ``folder`` (missing tables are simply absent)."""
    try:
        files = list_input_files(folder, _SUFFIXES)
    except CleanInputError:  # no catalog folder for this date: nothing to load
        return []
    snapshots = []
    for table, schema in DIM_SCHEMAS.items():
        paths = [f.path for f in files if f.path.rsplit("/", 1)[-1].split(".")[0] == table]
        if not paths:
            continue
        text_df = spark.read.schema(_text_schema(schema)).option("mode", "PERMISSIVE").json(paths)
        key = DIM_KEYS[table]
        values = {"origin": F.lit(CATALOG).alias("origin")}
        typed_df = text_df.select(
            *[values[f.name] if f.name in values
              else F.col(f.name) if isinstance(f.dataType, (StringType, ArrayType))
              else F.trim(f.name).try_cast(f.dataType).alias(f.name)
              for f in schema.fields if f.name != "run_id"])
        if table == USERS_TABLE and hmac_key is not None:
            typed_df = typed_df.withColumn("user_id", pseudonymize(F.col("user_id"), hmac_key))
        keyed_df = typed_df.where(F.col(key).isNotNull())
        columns = typed_df.columns
        order = Window.partitionBy(key).orderBy(F.to_json(F.struct(*columns)))
        dim_df = (keyed_df.withColumn("_n", F.row_number().over(order)).where(F.col("_n") == 1)
                  .select(*columns))
        rows_without_key = typed_df.where(F.col(key).isNull()).count()
        snapshots.append(DimSnapshot(table, dim_df, rows_without_key))
    return snapshots
