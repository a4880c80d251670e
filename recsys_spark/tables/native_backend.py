"""The native backend: delta-spark's ``format("delta")`` when its JVM classes are on the classpath
(the project's pinned jars from ``make jars``, Databricks, EMR, or ``spark-submit --packages``).

Same semantics as the delta-rs backend: schema rules, partition overwrite (``replaceWhere``, rows
outside the replaced partitions refused), idempotent writes (``txnAppId``/``txnVersion``), run id
in the commit (``userMetadata``), concurrent conflicting commits end as ConcurrentWriteError.
Versions are resolved from the log with delta-rs (as_of -> version) so both backends agree on
what a timestamp means.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Mapping, Sequence

from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, DateType, StructType

from recsys_spark.errors import ConcurrentWriteError, SchemaMismatchError, TableError
from recsys_spark.tables import delta_log
from recsys_spark.tables.deltars_backend import CHANGE_COLUMNS
from recsys_spark.tables.model import CommitInfo, PartitionFilter, WriteRequest, WriteResult
from recsys_spark.tables.schema_check import check_partition_columns, partition_spec, reconcile_schema

log = logging.getLogger(__name__)

# delta-spark's error classes for a commit that lost a race (io.delta.exceptions.*); Delta
# itself retries commits that do not conflict, so these mean a real conflict.
_CONCURRENT_CONDITIONS = ("DELTA_CONCURRENT_", "DELTA_METADATA_CHANGED", "DELTA_PROTOCOL_CHANGED")
_REPLACE_WHERE_MISMATCH = "DELTA_REPLACE_WHERE_MISMATCH"
# "violated by row with values:\n - day : 2026-01-03" in the replaceWhere constraint error
_VIOLATING_VALUE = re.compile(r"^\s*-\s*(\S+)\s*:\s*(.*)$", re.MULTILINE)


class NativeDeltaBackend:
    """Reads and writes through delta-spark."""

    name = "native"

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

    def read(self, uri: str, table: str, version: int | None = None,
             as_of: dt.datetime | None = None,
             partition_filters: Sequence[PartitionFilter] = ()) -> DataFrame:
        """Rows at the latest version, ``version`` or ``as_of``; ``partition_filters`` become
        partition predicates that delta-spark prunes files with (``inputFiles()`` shows it)."""
        delta = delta_log.open_table(uri, table, version, as_of)  # clear errors, as_of -> version
        partition_cols = delta_log.partition_columns(delta)
        for column, _op, _value in partition_filters:
            if column not in partition_cols:
                raise TableError(f"table {table}: cannot prune on {column!r}; partition columns "
                                 f"are {partition_cols}")
        reader = self.spark.read.format("delta")
        if version is not None or as_of is not None:
            reader = reader.option("versionAsOf", delta.version())
        df = reader.load(uri)
        for column, op, value in partition_filters:
            col = F.col(column)
            if op == "in":
                df = df.where(col.isin(list(value)))
            elif op in _SPARK_OPS:
                df = df.where(_SPARK_OPS[op](col, F.lit(value)))
            else:
                raise TableError(f"table {table}: unknown partition filter operator {op!r}")
        return df

    def read_changes(self, uri: str, table: str, starting_version: int,
                     ending_version: int | None = None) -> DataFrame:
        """delta-spark's Change Data Feed of versions ``starting_version``..``ending_version``."""
        delta = delta_log.open_table(uri, table)
        delta_log.require_change_data_feed(delta, table)
        last = delta.version() if ending_version is None else min(ending_version, delta.version())
        if starting_version > last:  # nothing committed since: an empty feed, not an error
            schema = StructType(list(delta_log.spark_schema(delta).fields) + CHANGE_COLUMNS)
            return self.spark.createDataFrame([], schema)
        return (self.spark.read.format("delta").option("readChangeFeed", "true")
                .option("startingVersion", starting_version).option("endingVersion", last)
                .load(uri))

    def optimize(self, uri: str, table: str, commit: CommitInfo,
                 partition_filters: Sequence[PartitionFilter] = ()) -> None:
        """delta-spark's OPTIMIZE (bin-packing), the run id in the commit's userMetadata."""
        delta_log.open_table(uri, table)
        where = " AND ".join(_sql_predicate(c, op, v) for c, op, v in partition_filters)
        key = "spark.databricks.delta.commitInfo.userMetadata"
        previous = self.spark.conf.get(key, None)
        self.spark.conf.set(key, json.dumps(commit.as_metadata(), sort_keys=True))
        try:
            self.spark.sql(f"OPTIMIZE delta.`{uri}`" + (f" WHERE {where}" if where else ""))
        finally:
            if previous is None:
                self.spark.conf.unset(key)
            else:
                self.spark.conf.set(key, previous)

    def write(self, df: DataFrame, uri: str, request: WriteRequest) -> WriteResult:
        """Write ``df`` per ``request`` in one delta-spark commit.

        Raises:
            SchemaMismatchError: the data does not fit the table, or a partition overwrite got
                rows outside the partitions it replaces (nothing is committed).
            ConcurrentWriteError: another writer committed a conflicting change meanwhile.
        """
        delta = delta_log.try_open(uri)
        existing = None if delta is None else delta_log.partition_columns(delta)
        partition_by = partition_spec(existing, request.partition_by, request.table)
        check_partition_columns(df.schema, partition_by, request.table)
        table_schema = delta_log.spark_schema(delta) if delta is not None else None
        new_schema = reconcile_schema(df.schema, table_schema, request.table,
                                      request.allow_new_columns)
        if request.txn is not None and delta is not None:
            done = delta.transaction_version(request.txn.app_id)
            if done is not None and done >= request.txn.version:
                log.info("table %s: transaction %s v%s already committed; skipping",
                         request.table, request.txn.app_id, request.txn.version)
                return WriteResult(request.table, delta.version(), 0, 0, skipped=True)
        user_metadata = json.dumps(request.commit.as_metadata(), sort_keys=True)
        writer = (df.select(*new_schema.fieldNames()).write.format("delta").mode(request.mode)
                  .option("userMetadata", user_metadata))
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        if delta is None:
            for key, value in (request.table_properties or {}).items():
                writer = writer.option(key, value)  # delta.* options become table properties
        if request.mode == "overwrite" and request.replace_partitions:
            writer = writer.option("replaceWhere", _replace_where(request.replace_partitions))
        if request.txn is not None:
            writer = (writer.option("txnAppId", request.txn.app_id)
                      .option("txnVersion", str(request.txn.version)))
        if request.allow_new_columns:
            writer = writer.option("mergeSchema", "true")
        try:
            writer.save(uri)
        except (PySparkException, Py4JJavaError) as exc:
            raise _translate(exc, request, df.schema) from None
        return _written(uri, request, user_metadata)


_SPARK_OPS = {"=": lambda c, v: c == v, "!=": lambda c, v: c != v, "<": lambda c, v: c < v,
              "<=": lambda c, v: c <= v, ">": lambda c, v: c > v, ">=": lambda c, v: c >= v}


def _sql_literal(value: object) -> str:
    text = value.isoformat() if isinstance(value, dt.date) else str(value)
    return "'" + text.replace("'", "''") + "'"


def _sql_predicate(column: str, op: str, value: object) -> str:
    if op == "in":
        return f"`{column}` IN ({', '.join(_sql_literal(v) for v in value)})"  # type: ignore[attr-defined]
    if op not in _SPARK_OPS:
        raise TableError(f"unknown partition filter operator {op!r}")
    return f"`{column}` {op} {_sql_literal(value)}"


def _replace_where(partitions: Mapping[str, Sequence[object]]) -> str:
    clauses = []
    for col, values in partitions.items():
        quoted = ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)
        clauses.append(f"`{col}` IN ({quoted})")
    return " AND ".join(clauses)


def _condition(exc: Exception) -> tuple[str, str]:
    """(error class or Java class name, message) of a failed delta-spark call. PySpark turns
    Spark's errors into PySparkExceptions but leaves Delta's own (io.delta.exceptions.*, e.g.
    ConcurrentAppendException) as the raw Py4JJavaError."""
    if isinstance(exc, PySparkException):
        message = str(exc)
        return (exc.getCondition() or message.split("]", 1)[0].lstrip("[")), message
    java = exc.java_exception  # type: ignore[attr-defined]
    message = str(java.getMessage() or "")
    try:
        condition = str(java.getErrorClass() or "")  # Delta's errors are SparkThrowables
    except Exception:  # py4j: not a SparkThrowable, no such method
        condition = ""
    return condition or str(java.getClass().getName()), message


def _translate(exc: Exception, request: WriteRequest, schema: StructType) -> Exception:
    """delta-spark's errors in the project's terms (the same ones the delta-rs backend raises)."""
    condition, message = _condition(exc)
    if (condition.startswith(_CONCURRENT_CONDITIONS) or "Concurrent" in condition
            or any(f"[{c}" in message for c in _CONCURRENT_CONDITIONS)):
        return ConcurrentWriteError(
            f"table {request.table}: another writer committed a conflicting change while this "
            f"write was in flight ({condition}); nothing was committed")
    if _REPLACE_WHERE_MISMATCH in message and request.replace_partitions:
        stray = ", ".join(f"{c}={_shown(v.strip(), schema[c].dataType)}"
                          for c, v in _VIOLATING_VALUE.findall(message)
                          if c in request.replace_partitions)
        replaced = {c: sorted(map(str, v)) for c, v in request.replace_partitions.items()}
        return SchemaMismatchError(f"table {request.table}: overwrite of {replaced} got rows with "
                                   f"{stray or 'other partition values'}; nothing was committed")
    return exc


def _shown(value: str, data_type: DataType) -> str:
    """A violating value as the delta-rs backend names it (delta-spark shows dates as days)."""
    if isinstance(data_type, DateType) and value.lstrip("-").isdigit():
        return (dt.date(1970, 1, 1) + dt.timedelta(days=int(value))).isoformat()
    return value


def _written(uri: str, request: WriteRequest, user_metadata: str) -> WriteResult:
    """The commit this write made, found by its userMetadata among the newest commits (another
    writer may have committed right after it)."""
    table = delta_log.open_table(uri, request.table)
    for commit in table.history(10):
        if commit.get("userMetadata") == user_metadata:
            metrics = commit.get("operationMetrics") or {}
            return WriteResult(request.table, int(commit["version"]),
                               int(metrics.get("numFiles", 0)), int(metrics.get("numOutputRows", 0)))
    return WriteResult(request.table, table.version(), 0, 0)
