"""The delta-rs commit backend: Spark writes Parquet in parallel, the driver commits with deltalake.

Used when the Delta JVM classes are not on the classpath. A write goes:
1. check the schema and the transaction id against the current snapshot;
2. Spark writes the data files into a fresh folder ``<table>/<write_id>/`` (partition folders
   inside), so a failed or concurrent job never mixes its files with another's;
3. the driver lists that folder and builds one AddAction per file from its Parquet footer;
4. one atomic commit (``create_table_with_add_actions`` / ``create_write_transaction``) makes
   them visible. Until then no reader sees them; a failure leaves the table at its previous
   version and the files as garbage for ``vacuum``.
Reads hand the live files of a version (from the log) to Spark's Parquet reader and restore
partition columns from the log's partition values.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import unquote

import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake import Field as DeltaField
from deltalake import Schema as DeltaSchema
from deltalake.exceptions import CommitFailedError, DeltaError
from deltalake.transaction import (
    AddAction,
    CommitProperties,
    Transaction,
    create_table_with_add_actions,
)
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from recsys_spark.errors import ConcurrentWriteError, SchemaMismatchError, TableError
from recsys_spark.filesystems import arrow_filesystem
from recsys_spark.paths import path_component
from recsys_spark.tables import delta_log
from recsys_spark.tables.model import CommitInfo, PartitionFilter, WriteRequest, WriteResult
from recsys_spark.tables.parquet_stats import stats_json
from recsys_spark.tables.schema_check import check_partition_columns, partition_spec, reconcile_schema

log = logging.getLogger(__name__)

MAX_COMMIT_ATTEMPTS = 10
_FILE_KEY = "__recsys_file"
_HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
# In a cdc file (_change_data/) the change type is a data column of this name.
_FILE_CHANGE_TYPE = "_change_type"
# What a Change Data Feed read adds to the table's columns (Delta's names and types).
CHANGE_COLUMNS = [StructField("_change_type", StringType(), True),
                  StructField("_commit_version", LongType(), True),
                  StructField("_commit_timestamp", TimestampType(), True)]


@dataclass(frozen=True)
class _LogFile:
    """A data file named by the log: path relative to the table, partition values, and for a
    change feed what the commit did with it."""

    path: str
    partition_values: Mapping[str, str | None]
    change_type: str | None = None
    version: int | None = None
    timestamp: dt.datetime | None = None


def compact(uri: str, table: str, commit: CommitInfo,
            partition_filters: Sequence[PartitionFilter] = ()) -> None:
    """Bin-pack small files with delta-rs (no Spark): one commit that removes the small files
    and adds the compacted ones (dataChange false, so change feeds and streams ignore it)."""
    delta = delta_log.open_table(uri, table)
    filters = [(c, op, [str(x) for x in v] if op == "in" else str(v))
               for c, op, v in partition_filters] or None
    delta.optimize.compact(partition_filters=filters, commit_properties=CommitProperties(
        custom_metadata=commit.as_metadata()))


class DeltaRsBackend:
    """Writes and reads Delta tables without the Delta jars."""

    name = "delta_rs"

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

    # ---------------------------------------------------------------- reads
    def read(self, uri: str, table: str, version: int | None = None,
             as_of: dt.datetime | None = None,
             partition_filters: Sequence[PartitionFilter] = ()) -> DataFrame:
        """The table's rows at the latest version, a version, or a timestamp; with
        ``partition_filters`` only the files of matching partitions are read (pruned from the
        log, so a stage reading one day of a long history reads one day's files)."""
        delta = delta_log.open_table(uri, table, version, as_of)
        schema = delta_log.spark_schema(delta)
        partition_cols = delta_log.partition_columns(delta)
        actions = delta_log.prune(delta_log.add_actions(delta), partition_filters, partition_cols,
                                  table)
        values = [actions.column(f"partition.{c}").to_pylist() for c in partition_cols]
        files = [_LogFile(unquote(path), {c: None if v[i] is None else str(v[i])
                                          for c, v in zip(partition_cols, values, strict=True)})
                 for i, path in enumerate(actions.column("path").to_pylist())]
        return self._read_files(uri, schema, partition_cols, files)

    def read_changes(self, uri: str, table: str, starting_version: int,
                     ending_version: int | None = None) -> DataFrame:
        """Change Data Feed rows of versions ``starting_version``..``ending_version`` (default:
        latest), built from the commits themselves as Delta defines it: a commit's ``cdc``
        files when it has any, otherwise its added files as inserts and removed files as
        deletes; with ``_change_type``, ``_commit_version``, ``_commit_timestamp``."""
        delta = delta_log.open_table(uri, table)
        delta_log.require_change_data_feed(delta, table)
        schema = delta_log.spark_schema(delta)
        partition_cols = delta_log.partition_columns(delta)
        last = delta.version() if ending_version is None else min(ending_version, delta.version())
        files: list[_LogFile] = []
        for version in range(starting_version, last + 1):
            commit = delta_log.commit_actions(uri, version)
            stamp = dt.datetime.fromtimestamp(commit.timestamp_ms / 1000, dt.timezone.utc)
            changes = ([(a, None) for a in commit.cdc] if commit.cdc else
                       [(a, "insert") for a in commit.adds if a.get("dataChange", True)]
                       + [(a, "delete") for a in commit.removes if a.get("dataChange", True)])
            for action, change_type in changes:
                path = unquote(action["path"])
                values = action.get("partitionValues") or _partition_values(path, partition_cols,
                                                                            offset=0)
                files.append(_LogFile(path, values, change_type, version, stamp))
        cdf_schema = StructType(list(schema.fields) + CHANGE_COLUMNS)
        return self._read_files(uri, cdf_schema, partition_cols, files,
                                change_columns=True)

    def _read_files(self, uri: str, schema: StructType, partition_cols: list[str],
                    files: list[_LogFile], change_columns: bool = False) -> DataFrame:
        """``files`` (paths relative to ``uri``) read by Spark's Parquet reader, their partition
        values (and change columns) from the log joined back on the file path. The file list is
        small (one row per file), so it is broadcast; a file listed twice (added, then removed)
        is read once and joined twice. The join key is each row's ``_metadata.file_path`` as
        Spark gives it, the log side mapped to that exact string on the driver: decoding the
        path per row instead made the read 3.4x slower (1M rows, docs/benchmarks.md)."""
        if not files:
            return self.spark.createDataFrame([], schema)
        file_uris = list(dict.fromkeys(f"{uri}/{f.path}" for f in files))
        log_cols = [*partition_cols, *([c.name for c in CHANGE_COLUMNS] if change_columns else [])]
        data_fields = [f for f in schema.fields if f.name not in log_cols]
        if change_columns:  # a cdc file carries its own _change_type column
            data_fields.append(StructField(_FILE_CHANGE_TYPE, StringType(), True))
        data_df = (self.spark.read.schema(StructType(data_fields))
                   .option("mergeSchema", "false").parquet(*file_uris))
        if change_columns:
            data_df = data_df.withColumnRenamed(_FILE_CHANGE_TYPE, "_file_change_type")
        if not log_cols:
            return data_df.select(*schema.fieldNames())
        types = {f.name: f.dataType for f in schema.fields}
        spark_paths = _spark_file_paths(self.spark, data_df)
        log_paths = {f.path: path_component(f"{uri}/{f.path}") for f in files}
        unmatched = sorted(p for p, decoded in log_paths.items() if decoded not in spark_paths)
        if unmatched:  # the inner join below would drop their rows without a word
            raise TableError(f"table at {uri}: Spark lists the files {unmatched[:3]} under other "
                             "paths than the Delta log's; nothing was read")
        rows = [(spark_paths[log_paths[f.path]],
                 *[f.partition_values.get(c) for c in partition_cols],
                 *((f.change_type, f.version, f.timestamp) if change_columns else ()))
                for f in files]
        files_schema = StructType(
            [StructField(_FILE_KEY, StringType(), False)]
            + [StructField(c, StringType(), True) for c in partition_cols]
            + (CHANGE_COLUMNS if change_columns else []))
        files_df = self.spark.createDataFrame(rows, files_schema).select(
            _FILE_KEY, *[F.col(c).cast(types[c]).alias(c) for c in partition_cols],
            *([c.name for c in CHANGE_COLUMNS] if change_columns else []))
        joined = (data_df.withColumn(_FILE_KEY, F.col("_metadata.file_path"))
                  .join(F.broadcast(files_df), on=_FILE_KEY, how="inner"))
        if change_columns:
            joined = joined.withColumn("_change_type", F.coalesce("_file_change_type", "_change_type"))
        return joined.select(*schema.fieldNames())

    def optimize(self, uri: str, table: str, commit: CommitInfo,
                 partition_filters: Sequence[PartitionFilter] = ()) -> None:
        compact(uri, table, commit, partition_filters)

    # ---------------------------------------------------------------- writes
    def write(self, df: DataFrame, uri: str, request: WriteRequest) -> WriteResult:
        """Write ``df`` per ``request``; see the module docstring for the steps."""
        delta = delta_log.try_open(uri)
        existing = None if delta is None else delta_log.partition_columns(delta)
        partition_by = partition_spec(existing, request.partition_by, request.table)
        check_partition_columns(df.schema, partition_by, request.table)
        table_schema = delta_log.spark_schema(delta) if delta is not None else None
        new_schema = reconcile_schema(df.schema, table_schema, request.table,
                                      request.allow_new_columns)
        observed_txn = None
        if request.txn is not None and delta is not None:
            observed_txn = delta.transaction_version(request.txn.app_id)
            if observed_txn is not None and observed_txn >= request.txn.version:
                log.info("table %s: transaction %s v%s already committed; skipping",
                         request.table, request.txn.app_id, request.txn.version)
                return WriteResult(request.table, delta.version(), 0, 0, skipped=True)

        write_id = f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"
        (df.select(*new_schema.fieldNames()).write.mode("errorifexists")
         .partitionBy(*partition_by).parquet(f"{uri}/{write_id}"))
        adds = _collect_add_actions(uri, write_id, partition_by)
        _check_replaced_partitions(adds, request)
        if delta is not None and table_schema is not None and len(new_schema) > len(table_schema):
            delta = _add_columns(delta, new_schema, table_schema, request)
        version = self._commit(uri, delta, new_schema, adds, request, partition_by, observed_txn)
        rows = sum(_num_records(a) for a in adds)
        log.info("table %s: committed version %s (%s files, %s rows)", request.table, version,
                 len(adds), rows)
        return WriteResult(request.table, version, len(adds), rows)

    def _commit(self, uri: str, delta: DeltaTable | None, schema: StructType,
                adds: list[AddAction], request: WriteRequest, partition_by: Sequence[str],
                observed_txn: int | None) -> int:
        """Commit once, retrying on unrelated concurrent commits. Returns the new version."""
        delta_schema = DeltaSchema.from_json(schema.json())
        txns = [Transaction(request.txn.app_id, request.txn.version)] if request.txn else None
        # Retries are ours, not delta-rs's: after each conflict we re-check the transaction id,
        # which is what detects two writers of the same partition (delta-rs alone does not when
        # the partition was empty).
        props = CommitProperties(custom_metadata=request.commit.as_metadata(),
                                 max_commit_retries=0, app_transactions=txns)
        for _attempt in range(MAX_COMMIT_ATTEMPTS):
            if delta is None:
                try:
                    create_table_with_add_actions(
                        delta_log.delta_rs_uri(uri), delta_schema, adds, mode="error",
                        partition_by=list(partition_by) or None,
                        configuration=dict(request.table_properties or {}) or None,
                        commit_properties=props)
                    return 0
                except (CommitFailedError, DeltaError) as exc:
                    delta = delta_log.try_open(uri)
                    if delta is None:
                        raise TableError(f"table {request.table}: create failed: {exc}") from None
                    self._recheck(delta, schema, request, observed_txn)
                    continue
            filters = _partition_filters(request)
            try:
                delta.create_write_transaction(
                    adds, mode=request.mode, schema=delta_schema, partition_by=list(partition_by) or None,
                    partition_filters=filters, commit_properties=props)
                return delta.version() + 1
            except CommitFailedError:
                delta = DeltaTable(delta_log.delta_rs_uri(uri))
                self._recheck(delta, schema, request, observed_txn)
        raise ConcurrentWriteError(f"table {request.table}: gave up after {MAX_COMMIT_ATTEMPTS} "
                                   "conflicting commits")

    @staticmethod
    def _recheck(delta: DeltaTable, schema: StructType, request: WriteRequest,
                 observed_txn: int | None) -> None:
        """After a lost commit race: fail if the winner wrote the same transaction app id."""
        if request.txn is not None:
            current = delta.transaction_version(request.txn.app_id)
            if current != observed_txn:
                raise ConcurrentWriteError(
                    f"table {request.table}: another writer committed {request.txn.app_id!r} "
                    f"(version {current}) while this write was in flight; nothing was committed")
        # The winner may have changed the schema: this write must still fit it.
        reconcile_schema(schema, delta_log.spark_schema(delta), request.table,
                         request.allow_new_columns)


def _add_columns(delta: DeltaTable, new_schema: StructType, table_schema: StructType,
                 request: WriteRequest) -> DeltaTable:
    """Schema evolution as its own metadata commit just before the data commit (delta-rs'
    write transaction does not change the schema). New columns are nullable, so if the data
    commit then fails the table only gained empty columns, which a rerun fills."""
    added = [DeltaField.from_json(json.dumps(f.jsonValue())) for f in new_schema.fields[len(table_schema):]]
    delta.alter.add_columns(added, commit_properties=CommitProperties(
        custom_metadata={**request.commit.as_metadata(), "schema_change": "add_columns"}))
    return DeltaTable(delta.table_uri)


def _partition_filters(request: WriteRequest) -> list[tuple[str, str, list[str]]] | None:
    if request.mode != "overwrite" or not request.replace_partitions:
        return None
    return [(col, "in", [str(v) for v in values])
            for col, values in request.replace_partitions.items()]


def _check_replaced_partitions(adds: list[AddAction], request: WriteRequest) -> None:
    """A partition overwrite may only add rows inside the partitions it replaces."""
    if request.mode != "overwrite" or not request.replace_partitions:
        return
    for add in adds:
        for col, allowed in request.replace_partitions.items():
            value = add.partition_values.get(col)
            if value not in {str(v) for v in allowed}:
                raise SchemaMismatchError(
                    f"table {request.table}: overwrite of {col} in {sorted(map(str, allowed))} "
                    f"got rows with {col}={value}; nothing was committed")


def _spark_file_paths(spark: SparkSession, data_df: DataFrame) -> dict[str, str]:
    """For each file ``data_df`` reads, keyed by its decoded path (scheme and authority removed,
    as the driver builds it from the log): the exact ``_metadata.file_path`` Spark gives its
    rows. Spark's file index holds the files' qualified URIs (``file:///tmp/x%20y``); the metadata
    column is the URI of the Hadoop ``Path`` made from their decoded string (``file:/tmp/x%20y``).
    A few JVM calls per file, on the file index Spark has already listed (no job)."""
    path_class = spark.sparkContext._jvm.org.apache.hadoop.fs.Path
    found: dict[str, str] = {}
    for listed in data_df.inputFiles():
        uri = path_class(path_class(spark.sparkContext._jvm.java.net.URI(listed)).toString()).toUri()
        found[uri.getPath()] = uri.toString()
    return found


def _arrow_fs(uri: str) -> tuple[pafs.FileSystem, str]:
    return arrow_filesystem(uri)


def _collect_add_actions(uri: str, write_id: str, partition_by: Sequence[str]) -> list[AddAction]:
    """One AddAction per data file Spark wrote under ``<uri>/<write_id>``, stats from footers."""
    fs, root = _arrow_fs(uri)
    selector = pafs.FileSelector(f"{root}/{write_id}", recursive=True, allow_not_found=True)
    infos = [i for i in fs.get_file_info(selector)
             if i.type == pafs.FileType.File and i.base_name.endswith(".parquet")
             and not i.base_name.startswith((".", "_"))]

    def to_action(info: pafs.FileInfo) -> AddAction:
        relative = info.path[len(root) + 1:]
        metadata = pq.read_metadata(info.path, filesystem=fs)
        # The raw location: delta-rs URI-encodes it into the log's add.path itself (an
        # already-quoted path would be encoded twice and point at a folder that does not exist).
        return AddAction(
            path=relative,
            size=info.size,
            partition_values=_partition_values(relative, partition_by),
            modification_time=int(info.mtime.timestamp() * 1000) if info.mtime else 0,
            data_change=True,
            stats=stats_json(metadata))

    # Footer reads are small and I/O bound: a few threads hide object-store latency.
    with ThreadPoolExecutor(max_workers=8) as pool:
        return sorted(pool.map(to_action, infos), key=lambda a: a.path)


def _partition_values(relative_path: str, partition_by: Sequence[str],
                      offset: int = 1) -> dict[str, str | None]:
    """Partition values from Spark's ``col=value`` folders (Spark escapes them like URLs);
    ``offset`` skips the leading write folder of this backend's paths."""
    found: dict[str, str | None] = {}
    for segment in relative_path.split("/")[offset:-1]:
        name, sep, raw = segment.partition("=")
        if sep and name in partition_by:
            found[name] = None if raw == _HIVE_NULL else unquote(raw)
    missing = [c for c in partition_by if c not in found]
    if missing:
        raise TableError(f"data file {relative_path} lacks partition folders for {missing}")
    return found


def _num_records(add: AddAction) -> int:
    return int(json.loads(add.stats).get("numRecords", 0))
