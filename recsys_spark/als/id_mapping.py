"""String ids -> the integer indices MLlib ALS needs, through the persisted `als_id_map` table.

An id keeps its index for ever; new ids get ``max + 1 ..`` in a deterministic order (by a hash
bucket of the id, then the id), computed without a global sort or ``zipWithIndex``: counts per
bucket come back to the driver (a few hundred numbers) and become per-bucket offsets.
The table stores ``idx`` as a long, but ALS takes 32-bit ints, so assigning past 2^31 - 1 fails
with :class:`AlsIdRangeError` rather than wrapping around.
"""
from __future__ import annotations

import logging
from typing import Literal

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, LongType, StructField, StructType

from recsys_spark.errors import RecsysError, TableError
from recsys_spark.runs import RunContext
from recsys_spark.schemas.als import ALS_ID_MAP
from recsys_spark.stage_io import write_output
from recsys_spark.tables import TableStore

log = logging.getLogger(__name__)

ID_MAP_TABLE = "als_id_map"
MAX_ALS_INDEX = 2**31 - 1
# Fixed: changing it would change the order new ids are numbered in (never their old indices).
ASSIGN_BUCKETS = 256
Kind = Literal["user", "item"]


class AlsIdRangeError(RecsysError, OverflowError):
    """More distinct ids than ALS's 32-bit indices can hold."""


def read_id_map(spark: SparkSession, store: TableStore, kind: Kind, version: int | None = None
                ) -> DataFrame:
    """The mapping of one kind (latest, or at ``version``): DataFrame[id string, idx long]
    (empty when none yet). Only the kind's partition is read."""
    if not store.exists(ID_MAP_TABLE):
        empty = StructType([StructField("id", ALS_ID_MAP["id"].dataType, False),
                            StructField("idx", LongType(), False)])
        return spark.createDataFrame([], empty)
    return store.read(ID_MAP_TABLE, version=version,
                      partition_filters=[("kind", "=", kind)]).select("id", "idx")


def assign_new_indices(spark: SparkSession, existing_df: DataFrame, ids_df: DataFrame,
                       first_idx: int) -> tuple[DataFrame, int]:
    """Indices for the ids in ``ids_df`` (column ``id``) that ``existing_df`` lacks.

    Returns:
        (DataFrame[id, idx long] numbered ``first_idx ..`` by (hash bucket, id), how many).

    Raises:
        AlsIdRangeError: the last index would exceed 2^31 - 1.
    """
    new_df = (ids_df.select("id").filter(F.col("id").isNotNull()).distinct()
              .join(existing_df.select("id"), on="id", how="left_anti")
              .withColumn("bucket", F.pmod(F.xxhash64("id"), F.lit(ASSIGN_BUCKETS)).cast("int")))
    counts = sorted((int(r["bucket"]), int(r["n"]))
                    for r in new_df.groupBy("bucket").agg(F.count("*").alias("n")).collect())
    total = sum(n for _, n in counts)
    if total and first_idx + total - 1 > MAX_ALS_INDEX:
        raise AlsIdRangeError(
            f"als_id_map: {first_idx + total} ids would exceed ALS's 32-bit index range "
            f"(max {MAX_ALS_INDEX}); shorten als.window_days or filter rare ids")
    offsets, running = [], first_idx
    for bucket, n in counts:
        offsets.append((bucket, running))
        running += n
    offsets_df = spark.createDataFrame(offsets, StructType([
        StructField("bucket", IntegerType(), False), StructField("offset", LongType(), False)]))
    order = Window.partitionBy("bucket").orderBy("id")
    assigned_df = (new_df.join(F.broadcast(offsets_df), on="bucket", how="inner")
                   .select("id", (F.col("offset") + F.row_number().over(order) - 1).alias("idx")))
    return assigned_df, total


def update_id_map(spark: SparkSession, store: TableStore, ctx: RunContext, kind: Kind,
                  ids_df: DataFrame) -> DataFrame:
    """Give every id in ``ids_df`` an index, appending new ones to `als_id_map`.

    Returns:
        DataFrame[id, idx long] for exactly the distinct ids of ``ids_df``.

    Raises:
        AlsIdRangeError: too many ids for ALS.
    """
    existing_df = read_id_map(spark, store, kind)
    top = existing_df.agg(F.max("idx").alias("m")).first()
    first_idx = 0 if top is None or top["m"] is None else int(top["m"]) + 1
    new_df, n_new = assign_new_indices(spark, existing_df, ids_df, first_idx)
    wanted_df = ids_df.select("id").distinct()
    if n_new == 0:
        return existing_df.join(wanted_df, on="id", how="inner")
    result = write_output(store, ctx, None, ID_MAP_TABLE, new_df.withColumn("kind", F.lit(kind)),
                          txn_key=f"{kind}/{ctx.run_date.isoformat()}")
    if result.skipped:
        # The same attempt already committed this app id: the new ids would silently lack indices.
        raise TableError(f"{ID_MAP_TABLE}: {n_new} new {kind} ids not written (transaction "
                         f"{kind}/{ctx.run_date} of attempt {ctx.attempt} already committed); "
                         "rerun the stage")
    log.info("als_id_map: %s new %s ids from index %s", result.rows_written, kind, first_idx)
    return read_id_map(spark, store, kind, result.version).join(wanted_df, on="id", how="inner")


def with_index(df: DataFrame, map_df: DataFrame, id_col: str, idx_col: str) -> DataFrame:
    """Add ``idx_col`` (int, as ALS wants) for ``id_col`` by joining the mapping (inner)."""
    mapped_df = map_df.select(F.col("id").alias(id_col), F.col("idx").cast("int").alias(idx_col))
    return df.join(mapped_df, on=id_col, how="inner")


def with_id(df: DataFrame, map_df: DataFrame, idx_col: str, id_col: str) -> DataFrame:
    """Replace ALS's int ``idx_col`` by the string ``id_col`` (inner join on the mapping)."""
    mapped_df = map_df.select(F.col("idx").cast("int").alias(idx_col), F.col("id").alias(id_col))
    return df.join(mapped_df, on=idx_col, how="inner").drop(idx_col)
