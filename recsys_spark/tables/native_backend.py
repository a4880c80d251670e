"""The native backend: delta-spark's ``format("delta")`` when its JVM classes are on the classpath
(Databricks, EMR, or ``spark-submit --packages io.delta:delta-spark_2.13:<ver>``).

Same semantics as the delta-rs backend: schema rules, partition overwrite (``replaceWhere``),
idempotent writes (``txnAppId``/``txnVersion``), run id in the commit (``userMetadata``).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys_spark.tables import delta_log
from recsys_spark.tables.model import PartitionFilter, WriteRequest, WriteResult
from recsys_spark.tables.schema_check import check_partition_columns, reconcile_schema

log = logging.getLogger(__name__)


class NativeDeltaBackend:
    """Reads and writes through delta-spark."""

    name = "native"

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

    def read(self, uri: str, table: str, version: int | None = None,
             as_of: dt.datetime | None = None,
             partition_filters: Sequence[PartitionFilter] = ()) -> DataFrame:
        delta_log.open_table(uri, table, version, as_of)  # clear errors for unknown table/version
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        elif as_of is not None:
            reader = reader.option("timestampAsOf", as_of.isoformat())
        df = reader.load(uri)
        for column, op, value in partition_filters:  # delta-spark prunes partitions from these
            col = F.col(column)
            df = df.where(col.isin(list(value)) if op == "in" else _SPARK_OPS[op](col, F.lit(value)))
        return df

    def write(self, df: DataFrame, uri: str, request: WriteRequest) -> WriteResult:
        delta = delta_log.try_open(uri)
        partition_by = (delta_log.partition_columns(delta) if delta is not None
                        else list(request.partition_by))
        check_partition_columns(df.schema, partition_by, request.table)
        table_schema = delta_log.spark_schema(delta) if delta is not None else None
        new_schema = reconcile_schema(df.schema, table_schema, request.table,
                                      request.allow_new_columns)
        if request.txn is not None and delta is not None:
            done = delta.transaction_version(request.txn.app_id)
            if done is not None and done >= request.txn.version:
                return WriteResult(request.table, delta.version(), 0, 0, skipped=True)
        writer = (df.select(*new_schema.fieldNames()).write.format("delta").mode(request.mode)
                  .option("userMetadata", json.dumps(request.commit.as_metadata(), sort_keys=True)))
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        if request.mode == "overwrite" and request.replace_partitions:
            writer = writer.option("replaceWhere", _replace_where(request))
        if request.txn is not None:
            writer = (writer.option("txnAppId", request.txn.app_id)
                      .option("txnVersion", str(request.txn.version)))
        if request.allow_new_columns:
            writer = writer.option("mergeSchema", "true")
        writer.save(uri)
        written = delta_log.open_table(uri, request.table)
        metrics = written.history(1)[0].get("operationMetrics", {}) or {}
        return WriteResult(request.table, written.version(),
                           int(metrics.get("numFiles", 0)), int(metrics.get("numOutputRows", 0)))


_SPARK_OPS = {"=": lambda c, v: c == v, "!=": lambda c, v: c != v, "<": lambda c, v: c < v,
              "<=": lambda c, v: c <= v, ">": lambda c, v: c > v, ">=": lambda c, v: c >= v}


def _replace_where(request: WriteRequest) -> str:
    assert request.replace_partitions is not None
    clauses = []
    for col, values in request.replace_partitions.items():
        quoted = ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)
        clauses.append(f"`{col}` IN ({quoted})")
    return " AND ".join(clauses)
