"""Schema enforcement for writes: the same rules on both backends."""
from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql.types import (
    ByteType,
    DateType,
    IntegerType,
    LongType,
    ShortType,
    StringType,
    StructField,
    StructType,
)

from recsys_spark.errors import SchemaMismatchError

PARTITION_TYPES = (StringType, DateType, IntegerType, LongType, ShortType, ByteType)


def check_partition_columns(schema: StructType, partition_by: Sequence[str], table: str) -> None:
    """Partition columns must exist and have a type whose folder value round-trips exactly."""
    by_name = {f.name: f for f in schema.fields}
    for name in partition_by:
        if name not in by_name:
            raise SchemaMismatchError(f"table {table}: partition column {name!r} is not in the data")
        if not isinstance(by_name[name].dataType, PARTITION_TYPES):
            raise SchemaMismatchError(
                f"table {table}: partition column {name!r} has type "
                f"{by_name[name].dataType.simpleString()}; use string, date or an integer type")


def partition_spec(existing: Sequence[str] | None, requested: Sequence[str], table: str) -> list[str]:
    """The partition columns of a write: the table's own (``existing``; None for a new table).
    A write naming other columns than an existing table's is refused."""
    if existing is None:
        return list(requested)
    if requested and list(requested) != list(existing):
        raise SchemaMismatchError(f"table {table}: partitioned by {list(existing)}, "
                                  f"write asks for {list(requested)}")
    return list(existing)


def reconcile_schema(write_schema: StructType, table_schema: StructType | None, table: str,
                     allow_new_columns: bool) -> StructType:
    """The schema the table has after this write.

    Column order follows the table; types must match exactly (nullability aside, as Spark
    widens it freely). New columns are accepted only with ``allow_new_columns`` and only when
    made nullable, as older rows read them as null.

    Raises:
        SchemaMismatchError: naming every missing, extra or mistyped column.
    """
    if table_schema is None:
        return write_schema
    table_fields = {f.name: f for f in table_schema.fields}
    write_fields = {f.name: f for f in write_schema.fields}
    problems: list[str] = []
    missing = [n for n in table_fields if n not in write_fields]
    if missing:
        problems.append("missing columns " + ", ".join(
            f"{n} ({table_fields[n].dataType.simpleString()})" for n in missing))
    for name, field in write_fields.items():
        if name in table_fields and table_fields[name].dataType != field.dataType:
            problems.append(f"column {name}: table has {table_fields[name].dataType.simpleString()}, "
                            f"write has {field.dataType.simpleString()}")
    extra = [write_fields[n] for n in write_fields if n not in table_fields]
    if extra and not allow_new_columns:
        problems.append("new columns " + ", ".join(f"{f.name} ({f.dataType.simpleString()})"
                                                   for f in extra)
                        + " (pass allow_new_columns=True to add them)")
    if problems:
        raise SchemaMismatchError(f"table {table}: write does not match the table schema: "
                                  + "; ".join(problems))
    # Rows written before this one read the new columns as null, so they join as nullable.
    added = [StructField(f.name, f.dataType, True, f.metadata) for f in extra]
    return StructType(list(table_schema.fields) + added)
