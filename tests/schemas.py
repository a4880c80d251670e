"""The table contracts of recsys_spark.schemas, relaxed for hand-made test rows."""
from __future__ import annotations

from pyspark.sql.types import StructField, StructType


def nullable(schema: StructType) -> StructType:
    """``schema`` with every column nullable: test rows may leave out what a case does not need,
    while names, types and order stay exactly the table contract's."""
    return StructType([StructField(f.name, f.dataType, True) for f in schema.fields])
