"""Order-independent content fingerprints of tables, for idempotency and parity checks."""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DataType, DoubleType, FloatType, MapType


def _stable(column: Column, data_type: DataType, digits: int) -> Column:
    """Floats rounded to ``digits`` (summation order differs between partitionings); maps sorted."""
    if isinstance(data_type, (DoubleType, FloatType)):
        return F.round(column.cast("double"), digits)
    if isinstance(data_type, ArrayType) and isinstance(data_type.elementType, (DoubleType, FloatType)):
        return F.transform(column, lambda x: F.round(x.cast("double"), digits))
    if isinstance(data_type, MapType):
        return F.array_sort(F.map_entries(column))
    return column


def table_fingerprint(df: DataFrame, exclude: tuple[str, ...] = (), float_digits: int = 6
                      ) -> tuple[int, int]:
    """(row count, sum of 64-bit row hashes mod 2^64): equal for equal multisets of rows.

    Only two numbers come back to the driver, whatever the table size.
    """
    fields = [f for f in df.schema.fields if f.name not in exclude]
    row_hash = F.xxhash64(*[_stable(F.col(f.name), f.dataType, float_digits) for f in fields])
    # Sum as decimal so it cannot overflow under ANSI mode; reduce mod 2^64 afterwards.
    row = df.agg(F.count(F.lit(1)).alias("n"),
                 F.sum(row_hash.cast("decimal(38,0)")).alias("h")).first()
    total = int(row["h"] or 0) % (2**64)
    return int(row["n"]), total


