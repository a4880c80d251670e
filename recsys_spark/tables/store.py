"""TableStore: every stage reads and writes named Delta tables through this one interface."""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from pyspark.sql import DataFrame, SparkSession

from recsys_spark.errors import ConfigError, TableError
from recsys_spark.filesystems import arrow_filesystem
from recsys_spark.paths import TABLE_NAME, is_local, normalize_root, table_uri
from recsys_spark.settings.core import WarehouseConfig
from recsys_spark.tables import delta_log
from recsys_spark.tables.deltars_backend import DeltaRsBackend, compact
from recsys_spark.tables.model import (
    CommitInfo,
    HistoryEntry,
    PartitionFilter,
    TxnId,
    WriteMode,
    WriteRequest,
    WriteResult,
)
from recsys_spark.tables.native_backend import NativeDeltaBackend

log = logging.getLogger(__name__)

# What a cluster user passes to spark-submit for the native backend (README, conf/cluster.yaml).
DELTA_PACKAGE = "io.delta:delta-spark_4.2_2.13:4.4.0"


class Backend(Protocol):
    name: str

    def read(self, uri: str, table: str, version: int | None = None,
             as_of: dt.datetime | None = None,
             partition_filters: Sequence[PartitionFilter] = ()) -> DataFrame: ...

    def write(self, df: DataFrame, uri: str, request: WriteRequest) -> WriteResult: ...

    def read_changes(self, uri: str, table: str, starting_version: int,
                     ending_version: int | None = None) -> DataFrame: ...

    def optimize(self, uri: str, table: str, commit: CommitInfo,
                 partition_filters: Sequence[PartitionFilter] = ()) -> None: ...


@dataclass(frozen=True)
class OptimizeResult:
    """What compaction did to one table."""

    table: str
    files_before: int
    files_after: int
    version: int  # the table's version afterwards (unchanged when nothing was compacted)


@dataclass(frozen=True)
class TableInfo:
    """A table's current state, for `recsys tables`."""

    name: str
    version: int
    rows: int | None
    last_run_id: str | None
    partition_columns: tuple[str, ...]


def declared_properties(table: str) -> dict[str, str]:
    """The Delta table properties ``table``'s TableSpec declares ({} for unknown tables)."""
    from recsys_spark.schemas import ALL_TABLES  # the contracts; imported late, they are big

    spec = ALL_TABLES.get(table)
    return dict(spec.table_properties) if spec is not None else {}


def delta_jars_present(spark: SparkSession) -> bool:
    """True when delta-spark's JVM classes are loadable (the only JVM probe in the project)."""
    try:
        # spark.jars are loaded by Spark's own class loader, which the driver thread's context
        # class loader is; Class.forName would ask the system class loader and miss them.
        jvm = spark._jvm  # type: ignore[attr-defined]
        jvm.java.lang.Thread.currentThread().getContextClassLoader().loadClass(
            "io.delta.tables.DeltaTable")
        return True
    except Exception:  # py4j raises its own error type for ClassNotFoundException
        return False


def choose_backend(spark: SparkSession, requested: str) -> Backend:
    """``auto`` picks native when the jars are there, delta-rs otherwise (logged either way).

    Raises:
        ConfigError: ``native`` was asked for and the Delta classes are not loadable.
    """
    has_jars = requested != "delta_rs" and delta_jars_present(spark)
    if requested == "native" and not has_jars:
        raise ConfigError("warehouse.backend is 'native' but the Delta jars are not on the classpath "
                          f"(run 'make jars', or spark-submit --packages {DELTA_PACKAGE})")
    backend: Backend = (NativeDeltaBackend(spark) if requested == "native" or has_jars
                        else DeltaRsBackend(spark))
    log.info("warehouse.backend %s: using the %s Delta backend%s", requested, backend.name,
             "" if has_jars or requested == "delta_rs" else " (no Delta jars on the classpath)")
    return backend


class TableStore:
    """Named Delta tables under one warehouse root."""

    def __init__(self, spark: SparkSession | None, warehouse: WarehouseConfig,
                 backend: Backend | None = None) -> None:
        """``spark`` may be None for metadata-only use (list, history, vacuum): no JVM needed."""
        self.spark = spark
        self.warehouse = warehouse
        self.root = normalize_root(warehouse.root)
        self._backend = backend

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            if self.spark is None:
                raise TableError("reading or writing table data needs a Spark session")
            self._backend = choose_backend(self.spark, self.warehouse.backend)
        return self._backend

    @property
    def backend_name(self) -> str:
        """``native`` or ``delta_rs``: what writes go through (chosen on first use)."""
        return self.backend.name

    def uri(self, table: str) -> str:
        return table_uri(self.root, table)

    def exists(self, table: str) -> bool:
        return delta_log.try_open(self.uri(table)) is not None

    def read(self, table: str, version: int | None = None,
             as_of: dt.datetime | None = None,
             partition_filters: Sequence[PartitionFilter] = ()) -> DataFrame:
        """Rows of ``table`` (latest, at ``version``, or as of a UTC timestamp), only from the
        partitions matching ``partition_filters`` (e.g. ``[("run_date", "=", day)]``).

        Raises:
            UnknownTableError: the table does not exist.
            TableError: the version or timestamp does not exist, or a filter is not on a
                partition column.
        """
        return self.backend.read(self.uri(table), table, version, as_of, partition_filters)

    def partition_dates(self, table: str, column: str = "run_date", *, version: int | None = None,
                        partition_filters: Sequence[PartitionFilter] = ()) -> list[dt.date]:
        """Sorted distinct values of the date partition ``column`` that hold live files at
        ``version`` (default: latest) and match ``partition_filters``, read from the Delta log
        alone (no Spark job, no data files); [] when the table does not exist.

        Raises:
            TableError: ``column`` (or a filter column) is not a partition column.
        """
        delta = delta_log.try_open(self.uri(table))
        if delta is None:
            return []
        if version is not None:
            delta.load_as_version(version)
        partition_cols = delta_log.partition_columns(delta)
        if column not in partition_cols:
            raise TableError(f"{table}: not partitioned by {column}")
        actions = delta_log.prune(delta_log.add_actions(delta), partition_filters, partition_cols, table)
        if actions.num_rows == 0:
            return []
        # values come back as dates, or as ISO text from older log readers
        return sorted({v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v))
                       for v in actions.column(f"partition.{column}").to_pylist() if v is not None})

    def latest_run_date(self, table: str, on_or_before: dt.date, *, strictly_before: bool = False,
                        version: int | None = None) -> dt.date | None:
        """The newest ``run_date`` partition of a per-run table that is <= ``on_or_before``
        (< with ``strictly_before``) at ``version``, from the Delta log alone; None when the
        table or such a partition does not exist.

        Raises:
            TableError: the table is not partitioned by run_date.
        """
        dates = self.partition_dates(table, version=version, partition_filters=[
            ("run_date", "<" if strictly_before else "<=", on_or_before)])
        return dates[-1] if dates else None

    def read_latest_run(self, table: str, on_or_before: dt.date, *, strictly_before: bool = False,
                        version: int | None = None) -> DataFrame | None:
        """Rows of the newest run_date partition <= ``on_or_before`` (< with ``strictly_before``),
        reading only that partition's files; None when there is none (see latest_run_date)."""
        latest = self.latest_run_date(table, on_or_before, strictly_before=strictly_before,
                                      version=version)
        if latest is None:
            return None
        return self.read(table, version=version, partition_filters=[("run_date", "=", latest)])

    def write(self, df: DataFrame, table: str, mode: WriteMode, commit: CommitInfo, *,
              partition_by: Sequence[str] = (),
              replace_partitions: Mapping[str, Sequence[str]] | None = None,
              txn: TxnId | None = None, allow_new_columns: bool = False,
              table_properties: Mapping[str, str] | None = None) -> WriteResult:
        """Append or overwrite (all, or only ``replace_partitions``) in one atomic commit.

        ``table_properties`` apply when this write creates the table; by default those its
        TableSpec declares (``recsys_spark.schemas``), e.g. Change Data Feed on ``events``.

        Raises:
            SchemaMismatchError: the DataFrame does not fit the table.
            ConcurrentWriteError: another writer committed the same ``txn.app_id`` meanwhile.
        """
        if replace_partitions is not None and mode != "overwrite":
            raise TableError(f"table {table}: replace_partitions needs mode='overwrite'")
        request = WriteRequest(table=table, mode=mode, commit=commit, partition_by=partition_by,
                               replace_partitions=replace_partitions, txn=txn,
                               allow_new_columns=allow_new_columns,
                               table_properties=(declared_properties(table) if table_properties is None
                                                 else table_properties))
        return self.backend.write(df, self.uri(table), request)

    def read_changes(self, table: str, starting_version: int,
                     ending_version: int | None = None) -> DataFrame:
        """Rows that changed in versions ``starting_version``..``ending_version`` (inclusive;
        default: latest) from the table's Change Data Feed: the table's columns plus
        ``_change_type`` (insert / delete / update_preimage / update_postimage),
        ``_commit_version`` and ``_commit_timestamp``. Empty when nothing was committed since.

        Raises:
            UnknownTableError: the table does not exist.
            TableError: the table does not record changes (no ``delta.enableChangeDataFeed``).
        """
        return self.backend.read_changes(self.uri(table), table, starting_version, ending_version)

    def optimize(self, table: str, commit: CommitInfo,
                 partition_filters: Sequence[PartitionFilter] = ()) -> OptimizeResult:
        """Compact small files into fewer large ones (one commit that changes no rows), on the
        chosen backend; without a Spark session, with delta-rs. Old files stay until vacuum.

        Raises:
            UnknownTableError: the table does not exist.
        """
        uri = self.uri(table)
        before = delta_log.add_actions(delta_log.open_table(uri, table)).num_rows
        if self.spark is None and self._backend is None:
            compact(uri, table, commit, partition_filters)
        else:
            self.backend.optimize(uri, table, commit, partition_filters)
        after = delta_log.open_table(uri, table)
        return OptimizeResult(table, before, delta_log.add_actions(after).num_rows, after.version())

    def version(self, table: str) -> int:
        return delta_log.open_table(self.uri(table), table).version()

    def history(self, table: str, limit: int | None = None) -> list[HistoryEntry]:
        return delta_log.history(delta_log.open_table(self.uri(table), table), limit)

    def transaction_version(self, table: str, app_id: str) -> int | None:
        delta = delta_log.try_open(self.uri(table))
        return None if delta is None else delta.transaction_version(app_id)

    def list_tables(self) -> list[str]:
        """Names of the Delta tables directly under the warehouse root."""
        if not is_local(self.root):
            import pyarrow.fs as pafs

            fs, base = arrow_filesystem(self.root)
            infos = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
            names = [i.base_name for i in infos if i.type == pafs.FileType.Directory]
        else:
            from pathlib import Path

            base_path = Path(self.root)
            names = [p.name for p in base_path.iterdir() if p.is_dir()] if base_path.is_dir() else []
        return sorted(n for n in names if TABLE_NAME.match(n) and self.exists(n))

    def info(self, table: str) -> TableInfo:
        delta = delta_log.open_table(self.uri(table), table)
        last = delta_log.history(delta, 1)
        return TableInfo(table, delta.version(), delta_log.row_count(delta),
                         last[0].run_id if last else None,
                         tuple(delta_log.partition_columns(delta)))

    def vacuum(self, table: str, dry_run: bool = True,
               retention_hours: int | None = None) -> list[str]:
        """Files no version within the retention window needs, including orphans of failed
        writes. Deletes them unless ``dry_run``. The retention guard stays on: a window
        shorter than the table's ``delta.deletedFileRetentionDuration`` is refused."""
        delta = delta_log.open_table(self.uri(table), table)
        hours = self.warehouse.vacuum_retention_hours if retention_hours is None else retention_hours
        try:
            return sorted(delta.vacuum(retention_hours=hours, dry_run=dry_run,
                                       enforce_retention_duration=True, full=True))
        except Exception as exc:
            raise TableError(f"table {table}: vacuum refused: {exc}") from None
