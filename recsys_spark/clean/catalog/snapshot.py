"""Catalog snapshots -> the `items`, `users` and `promotions` dimension tables (latest state).

The landing area holds a full snapshot per day (``<landing>/catalog/date=D/<table>.jsonl.gz``);
the run for date D loads D's snapshot. Values are read as text with an explicit schema and
converted with try_cast, so a bad value becomes null instead of failing the run; rows without
a key are dropped (counted), and a key delivered twice keeps one row chosen deterministically.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StringType, StructField, StructType

from recsys_spark.clean.privacy import pseudonymize
from recsys_spark.clean.reader import CleanInputError, list_input_files
from recsys_spark.schemas.events import ITEMS, PROMOTIONS, USERS

log = logging.getLogger(__name__)

DIM_SCHEMAS: dict[str, StructType] = {"items": ITEMS, "users": USERS, "promotions": PROMOTIONS}
DIM_KEYS: dict[str, str] = {"items": "item_id", "users": "user_id", "promotions": "promotion_id"}
_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz")


@dataclass(frozen=True)
class DimSnapshot:
    table: str
    df: DataFrame          # in the table's schema
    rows_without_key: int


def _text_schema(schema: StructType) -> StructType:
    """The raw reading schema: every column as text except arrays (as arrays of text)."""
    return StructType([StructField(f.name, ArrayType(StringType()) if isinstance(f.dataType, ArrayType)
                                   else StringType(), True)
                       for f in schema.fields if f.name != "run_id"])


def read_snapshot(spark: SparkSession, folder: str, run_id: str, hmac_key: bytes | None
                  ) -> list[DimSnapshot]:
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
        typed_df = text_df.select(
            *[F.col(f.name) if isinstance(f.dataType, (StringType, ArrayType))
              else F.trim(f.name).try_cast(f.dataType).alias(f.name)
              for f in schema.fields if f.name != "run_id"],
            F.lit(run_id).alias("run_id"))
        if table == "users" and hmac_key is not None:
            typed_df = typed_df.withColumn("user_id", pseudonymize(F.col("user_id"), hmac_key))
        keyed_df = typed_df.where(F.col(key).isNotNull())
        order = Window.partitionBy(key).orderBy(F.to_json(F.struct(*schema.fieldNames())))
        dim_df = (keyed_df.withColumn("_n", F.row_number().over(order)).where(F.col("_n") == 1)
                  .select(*schema.fieldNames()))
        rows_without_key = typed_df.where(F.col(key).isNull()).count()
        snapshots.append(DimSnapshot(table, dim_df, rows_without_key))
    return snapshots
