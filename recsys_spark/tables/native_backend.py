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

from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys_spark.errors import ConcurrentWriteError, SchemaMismatchError, TableError
from recsys_spark.tables import delta_log
from recsys_spark.tables.model import PartitionFilter, WriteRequest, WriteResult
from recsys_spark.tables.schema_check import check_partition_columns, reconcile_schema

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

    def write(self, df: DataFrame, uri: str, request: WriteRequest) -> WriteResult:
        """Write ``df`` per ``request`` in one delta-spark commit.

        Raises:
            SchemaMismatchError: the data does not fit the table, or a partition overwrite got
                rows outside the partitions it replaces (nothing is committed).
            ConcurrentWriteError: another writer committed a conflicting change meanwhile.
        """
        delta = delta_log.try_open(uri)
        partition_by = _partition_spec(delta, request)
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
        except PySparkException as exc:
            raise _translate(exc, request) from None
        return _written(uri, request, user_metadata)


_SPARK_OPS = {"=": lambda c, v: c == v, "!=": lambda c, v: c != v, "<": lambda c, v: c < v,
              "<=": lambda c, v: c <= v, ">": lambda c, v: c > v, ">=": lambda c, v: c >= v}


def _partition_spec(delta, request: WriteRequest) -> list[str]:
    if delta is None:
        return list(request.partition_by)
    existing = delta_log.partition_columns(delta)
    if request.partition_by and list(request.partition_by) != existing:
        raise SchemaMismatchError(f"table {request.table}: partitioned by {existing}, "
                                  f"write asks for {list(request.partition_by)}")
    return existing


def _replace_where(partitions: Mapping[str, Sequence[object]]) -> str:
    clauses = []
    for col, values in partitions.items():
        quoted = ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)
        clauses.append(f"`{col}` IN ({quoted})")
    return " AND ".join(clauses)


def _condition(exc: PySparkException) -> str:
    condition = exc.getCondition() or ""
    return condition if condition else str(exc).split("]", 1)[0].lstrip("[")


def _translate(exc: PySparkException, request: WriteRequest) -> Exception:
    """delta-spark's errors in the project's terms (the same ones the delta-rs backend raises)."""
    condition, message = _condition(exc), str(exc)
    if condition.startswith(_CONCURRENT_CONDITIONS) or any(
            f"[{c}" in message for c in _CONCURRENT_CONDITIONS):
        return ConcurrentWriteError(
            f"table {request.table}: another writer committed a conflicting change while this "
            f"write was in flight ({condition}); nothing was committed")
    if _REPLACE_WHERE_MISMATCH in message and request.replace_partitions:
        stray = ", ".join(f"{c}={v.strip()}" for c, v in _VIOLATING_VALUE.findall(message)
                          if c in request.replace_partitions)
        replaced = {c: sorted(map(str, v)) for c, v in request.replace_partitions.items()}
        return SchemaMismatchError(f"table {request.table}: overwrite of {replaced} got rows with "
                                   f"{stray or 'other partition values'}; nothing was committed")
    return exc


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
