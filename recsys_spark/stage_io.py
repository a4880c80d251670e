"""The one way a stage reads its input tables and writes its output tables.

Reads go through :class:`Inputs`. Each table is pinned at the version it has the first time
the stage touches it; that version is recorded in the run's report (and so in
`pipeline_runs.inputs`), and every later read of the table in the same stage reads that same
version, so a commit by another process mid-stage cannot leak in. A date window is pruned from
the Delta log: only the files of the window's partitions are read, so a stage's cost does not
grow with the table's history. A missing required table is an error that names the stage
producing it (``TableSpec.written_by``).

Writes go through :func:`write_output`: the DataFrame is conformed to the table's
``TableSpec`` (its columns in order, cast to the declared types, with ``run_id``, ``run_date``
and ``stage`` stamped from the run), and the spec decides what the write replaces
(``write_mode``) and how the table is partitioned. Every replacing write carries a Delta
transaction id, so a retried commit of one attempt is skipped and two concurrent attempts of
one run cannot both win.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DateType

from recsys_spark.errors import SchemaMismatchError, TableError, UnknownTableError
from recsys_spark.runs import RunContext, StageReport
from recsys_spark.schemas import ALL_TABLES, MODEL_METRICS, TableSpec
from recsys_spark.tables import PartitionFilter, TableStore, WriteResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DateWindow:
    """The days ``start``..``end``, both inclusive."""

    start: dt.date
    end: dt.date

    @classmethod
    def ending(cls, end: dt.date, days: int) -> DateWindow:
        """The ``days`` days ending at ``end`` (inclusive)."""
        if days < 1:
            raise ValueError(f"a date window needs >= 1 day, got {days}")
        return cls(end - dt.timedelta(days=days - 1), end)

    def filters(self, column: str) -> list[PartitionFilter]:
        return [(column, ">=", self.start), (column, "<=", self.end)]


def spec_of(table: str) -> TableSpec:
    """The declared contract of ``table``.

    Raises:
        TableError: the project declares no such table.
    """
    try:
        return ALL_TABLES[table]
    except KeyError:
        raise TableError(f"no table {table!r} is declared in recsys_spark/schemas") from None


def date_partition(spec: TableSpec) -> str:
    """The table's date partition column (event_date, run_date, ...).

    Raises:
        TableError: the table has no date partition, so a date window cannot be pruned.
    """
    for column in spec.partition_by:
        if isinstance(spec.schema[column].dataType, DateType):
            return column
    raise TableError(f"table {spec.name} has no date partition column to read a window of")


class PinnedTables:
    """Tables of one warehouse, each read at a single version: the version it had when first
    used (or when pinned with ``pin``). Reads go through here for stages and the report alike."""

    def __init__(self, store: TableStore, pin: Iterable[str] = ()) -> None:
        self.store = store
        self.versions: dict[str, int | None] = {}
        self.files_read: dict[str, int] = {}
        self.input_files: dict[str, set[str]] = {}
        for table in pin:
            self.version(table)

    def version(self, table: str) -> int | None:
        """The version ``table`` is read at (pinned on first use); None if it does not exist."""
        if table not in self.versions:
            self.versions[table] = self.store.version(table) if self.store.exists(table) else None
        return self.versions[table]

    def has(self, table: str) -> bool:
        return self.version(table) is not None

    def read(self, table: str, window: DateWindow | None = None,
             filters: Sequence[PartitionFilter] = ()) -> DataFrame:
        """Rows of ``table`` at its pinned version, only from the partitions of ``window`` (on the
        table's date partition) and ``filters``.

        Raises:
            UnknownTableError: the table does not exist.
        """
        if self.version(table) is None:
            raise UnknownTableError(f"unknown table {table!r}: no Delta table under {self.store.root}")
        if window is not None:
            filters = [*filters, *window.filters(date_partition(spec_of(table)))]
        df = self.store.read(table, version=self.versions[table], partition_filters=filters)
        files = df.inputFiles()
        self.files_read[table] = self.files_read.get(table, 0) + len(files)
        self.input_files.setdefault(table, set()).update(files)
        return df

    def partition_dates(self, table: str, *, window: DateWindow | None = None,
                        column: str | None = None,
                        filters: Sequence[PartitionFilter] = ()) -> list[dt.date]:
        """Sorted dates of the date partition ``column`` (default: the table's) holding data at
        the pinned version, within ``window`` and ``filters``, from the Delta log alone; [] when
        the table does not exist."""
        if self.version(table) is None:
            return []
        column = column or date_partition(spec_of(table))
        if window is not None:
            filters = [*filters, *window.filters(column)]
        return self.store.partition_dates(table, column, version=self.versions[table],
                                          partition_filters=filters)

    def latest_run_date(self, table: str, on_or_before: dt.date, *,
                        strictly_before: bool = False) -> dt.date | None:
        """The newest run_date partition <= ``on_or_before`` (<) at the pinned version."""
        days = self.partition_dates(table, column="run_date", filters=[
            ("run_date", "<" if strictly_before else "<=", on_or_before)])
        return days[-1] if days else None


class Inputs(PinnedTables):
    """A stage's input tables, each pinned for the whole stage and recorded in its report."""

    def __init__(self, store: TableStore, ctx: RunContext, report: StageReport) -> None:
        super().__init__(store)
        self.ctx = ctx
        self.report = report
        self.files_read = report.files_read
        self.input_files = report.input_files

    def version(self, table: str) -> int | None:
        known = table in self.versions
        version = super().version(table)
        if not known and version is not None:
            self.report.inputs[table] = version
        return version

    def required(self, table: str, window: DateWindow | None = None) -> DataFrame:
        """Rows of ``table`` at its pinned version (only ``window``'s partitions if given).

        Raises:
            UnknownTableError: the table does not exist; the message names its producer.
        """
        if self.version(table) is None:
            raise UnknownTableError(self._missing(table))
        return self.read(table, window)

    def optional(self, table: str, window: DateWindow | None = None) -> DataFrame | None:
        """Like :meth:`required`, but None (noted in the report) when the table is missing."""
        if self.version(table) is None:
            log.info("%s: optional input %s does not exist; continuing without it",
                     self.ctx.stage, table)
            self.report.notes[f"missing_optional_input.{table}"] = "not found"
            return None
        return self.read(table, window)

    def latest_run(self, table: str, *, required: bool = False,
                   strictly_before: bool = False) -> DataFrame | None:
        """Rows of the newest ``run_date`` partition of a per-run table on or before the run
        date (before it with ``strictly_before``); only that partition's files are read. The
        run date read is noted in the report.

        Returns:
            The rows, or None when the table or such a partition does not exist (unless
            ``required``).

        Raises:
            UnknownTableError: ``required`` and there is no such partition.
        """
        when = "before" if strictly_before else "on or before"
        day = self.latest_run_date(table, self.ctx.run_date, strictly_before=strictly_before)
        if day is None:
            if required:
                raise UnknownTableError(self._missing(table, f" with a run {when} {self.ctx.run_date}"))
            self.report.notes[f"missing_optional_input.{table}"] = (
                "not found" if self.version(table) is None else f"no run {when} {self.ctx.run_date}")
            return None
        self.report.notes[f"input_run_date.{table}"] = day.isoformat()
        return self.read(table, filters=[("run_date", "=", day)])

    def runs_from(self, table: str, first_day: dt.date) -> DataFrame | None:
        """The run_date partitions a point-in-time lookup from ``first_day`` to the run date can
        use: the newest one before ``first_day`` and every later one up to the run date (so the
        read does not grow with the table's history). None (noted) when the table is missing."""
        if self.version(table) is None:
            return self.optional(table)
        older = self.latest_run_date(table, first_day, strictly_before=True)
        return self.read(table, DateWindow(older or first_day, self.ctx.run_date))

    def _missing(self, table: str, qualifier: str = "") -> str:
        producer = ALL_TABLES[table].written_by if table in ALL_TABLES else ""
        hint = (f"run `recsys {producer} --run-date {self.ctx.run_date}` first"
                if producer and " " not in producer.strip() else "run the stage that writes it first")
        return (f"{self.ctx.stage} stage: input table {table!r}{qualifier} does not exist under "
                f"{self.store.root}; {hint}")


def conform(df: DataFrame, spec: TableSpec, ctx: RunContext) -> DataFrame:
    """``df`` with exactly the table's columns, in order, cast to the declared types; ``run_id``,
    ``run_date`` and ``stage`` (where the table has them) are the run's.

    Raises:
        SchemaMismatchError: ``df`` lacks a column of the table.
    """
    stamps = {"run_id": F.lit(ctx.run_id), "run_date": F.lit(ctx.run_date), "stage": F.lit(ctx.stage)}
    missing = [f.name for f in spec.schema.fields if f.name not in stamps and f.name not in df.columns]
    if missing:
        raise SchemaMismatchError(f"{ctx.stage} stage: output {spec.name} lacks columns "
                                  f"{', '.join(missing)}")
    return df.select(*[stamps.get(f.name, F.col(f.name)).cast(f.dataType).alias(f.name)
                       for f in spec.schema.fields])


def write_output(store: TableStore, ctx: RunContext, report: StageReport | None, table: str,
                 df: DataFrame, *, partitions: Mapping[str, Iterable[Any]] | None = None,
                 txn_key: str | None = None, allow_new_columns: bool = False) -> WriteResult:
    """Conform ``df`` to ``table``'s spec and write it the way the spec says.

    Args:
        partitions: values of partition columns the run does not determine (e.g. the
            event_date partitions a clean run replaces); run_date and stage come from ``ctx``.
        txn_key: the transaction id's partition key (default: the replaced partitions).

    Returns:
        What was written; the version is recorded in ``report.outputs``.

    Raises:
        TableError: a partition of a run_partitions table has no value.
        SchemaMismatchError / ConcurrentWriteError: from the table store.
    """
    spec = spec_of(table)
    out_df = conform(df, spec, ctx)
    commit = ctx.commit_info()
    if spec.write_mode == "append":
        txn = ctx.txn(table, txn_key) if txn_key else None
        result = store.write(out_df, table, "append", commit, partition_by=spec.partition_by,
                             txn=txn, allow_new_columns=allow_new_columns)
    elif spec.write_mode == "snapshot":
        result = store.write(out_df, table, "overwrite", commit, partition_by=spec.partition_by,
                             txn=ctx.txn(table, txn_key or ctx.run_date.isoformat()),
                             allow_new_columns=allow_new_columns)
    else:
        replace = _run_partitions(spec, ctx, partitions or {})
        key = txn_key or "/".join(",".join(values) for values in replace.values())
        result = store.write(out_df, table, "overwrite", commit, partition_by=spec.partition_by,
                             replace_partitions=replace, txn=ctx.txn(table, key),
                             allow_new_columns=allow_new_columns)
    if report is not None:
        report.outputs[table] = result.version
    return result


def _run_partitions(spec: TableSpec, ctx: RunContext, given: Mapping[str, Iterable[Any]]
                    ) -> dict[str, list[str]]:
    from_run = {"run_date": [ctx.run_date.isoformat()], "stage": [ctx.stage]}
    replace: dict[str, list[str]] = {}
    for column in spec.partition_by:
        values = [_partition_text(v) for v in given[column]] if column in given else from_run.get(column)
        if not values:
            raise TableError(f"{ctx.stage} stage: writing {spec.name} needs the {column} partitions "
                             "it replaces")
        replace[column] = sorted(set(values))
    return replace


def _partition_text(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


# Significant digits of a float parameter's text: a sum's last bits depend on how the rows were
# partitioned (local mode vs a cluster), and the table must not.
PARAM_DIGITS = 9


def _param_text(value: Any) -> str:
    return str(float(f"{value:.{PARAM_DIGITS}g}")) if isinstance(value, float) else str(value)


def write_metrics(store: TableStore, ctx: RunContext, report: StageReport | None,
                  rows: Iterable[Mapping[str, Any]]) -> WriteResult:
    """Replace this (run date, stage) slice of `model_metrics` with ``rows``.

    Each row needs ``model``, ``metric``, ``value`` and may give ``split`` and ``params``.
    """
    records = [{
        "run_id": ctx.run_id, "run_date": ctx.run_date, "stage": ctx.stage,
        "model": str(r["model"]), "metric": str(r["metric"]),
        "value": None if r.get("value") is None else float(r["value"]),
        "split": r.get("split"), "params": {k: _param_text(v) for k, v in (r.get("params") or {}).items()},
    } for r in rows]
    df = store.spark.createDataFrame(records, MODEL_METRICS)  # type: ignore[union-attr]
    return write_output(store, ctx, report, "model_metrics", df)
