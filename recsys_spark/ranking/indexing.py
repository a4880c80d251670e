"""Dense integer indices for string ids, without a global sort or ``zipWithIndex``.

New ids get ``first_idx ..`` in a deterministic order (by a hash bucket of the id, then the id):
counts per bucket come back to the driver (a few hundred numbers) and become per-bucket
offsets. MLlib ALS takes 32-bit ints, so numbering past 2^31 - 1 fails with
:class:`AlsIdRangeError` rather than wrapping around. Used by the persistent `als_id_map` and by
the ephemeral indices of the category-level ALS.
"""
from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, LongType, StructField, StructType

from recsys_spark.errors import RecsysError

MAX_ALS_INDEX = 2**31 - 1
# Fixed: changing it would change the order new ids are numbered in (never their old indices).
ASSIGN_BUCKETS = 256


class AlsIdRangeError(RecsysError, OverflowError):
    """More distinct ids than ALS's 32-bit indices can hold."""


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
