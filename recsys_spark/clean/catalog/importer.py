"""`recsys catalog import`: a shop's catalog files -> the `items`, `promotions`, `users`
dimensions and `catalog_quarantine`, as of a date.

read each file -> check its columns (a missing required column refuses the whole import: one
line, exit 2) -> type and validate every record (rules.py) -> gate: a file with no records, or
whose share of quarantined records is above ``clean.catalog.max_bad_share``, fails the import
(exit 3) -> publish: `catalog_quarantine` (the as-of date's partition of each imported
dimension), then each dimension through clean/publish.py ``write_dims``, which does not roll
back a dimension a later date already wrote. Nothing is committed before every file has passed.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys_spark.clean.catalog.contract import CONTRACTS
from recsys_spark.clean.catalog.files import CatalogFileError, CatalogRecords, read_catalog_file
from recsys_spark.clean.catalog.model import CATALOG, DIM_SCHEMAS, USERS_TABLE, DimSnapshot
from recsys_spark.clean.catalog.rules import REASON_CODES, checked_records
from recsys_spark.clean.privacy import pseudonymize, resolve_hmac_key
from recsys_spark.clean.publish import write_dims
from recsys_spark.errors import DataQualityError
from recsys_spark.runs import RunContext, StageReport
from recsys_spark.stage_io import write_output
from recsys_spark.tables import TableStore

log = logging.getLogger(__name__)

STAGE = "catalog"
QUARANTINE_TABLE = "catalog_quarantine"


class CatalogGateError(DataQualityError):
    """Too many bad records in a catalog file (or none at all); nothing was committed."""


@dataclass(frozen=True)
class FileFigures:
    """What validating one file found."""

    table: str
    path: str
    records: int
    quarantined: int
    by_reason: dict[str, int]

    @property
    def bad_share(self) -> float:
        return self.quarantined / self.records if self.records else 0.0


def make_catalog_import(files: Mapping[str, str]
                        ) -> Callable[[SparkSession, TableStore, RunContext], StageReport]:
    """The stage function (for stage_runner.run_stage) importing ``files`` (dimension -> path)."""

    def stage(spark: SparkSession, store: TableStore, ctx: RunContext) -> StageReport:
        return run_catalog_import(spark, store, ctx, files)

    return stage


def read_checked(spark: SparkSession, files: Mapping[str, str]) -> dict[str, CatalogRecords]:
    """Every file read and its columns checked against the contract, before any validation.

    Raises:
        CatalogFileError: a file cannot be read, or lacks required columns (named).
    """
    unknown = sorted(set(files) - set(CONTRACTS))
    if unknown:
        raise CatalogFileError(f"unknown dimension(s) {', '.join(unknown)}; use "
                               f"{', '.join(CONTRACTS)}")
    out = {}
    for table, path in files.items():
        records = read_catalog_file(spark, path)
        missing = CONTRACTS[table].missing(set(records.columns))
        if missing:
            raise CatalogFileError(
                f"{table} file {path}: missing required column(s) {', '.join(missing)} "
                f"(found: {', '.join(records.columns) or 'none'}); nothing was imported")
        out[table] = records
    return out


def run_catalog_import(spark: SparkSession, store: TableStore, ctx: RunContext,
                       files: Mapping[str, str]) -> StageReport:
    """Import ``files`` (dimension -> file or folder) as of ``ctx.run_date``.

    Returns:
        The StageReport: per dimension records / quarantined / per reason, dimensions written
        or kept (notes ``kept.<table>`` when a later date's state is not rolled back).

    Raises:
        CatalogFileError: a file cannot be used (missing, format, missing columns).
        CatalogGateError: a file has no records or too many bad ones; nothing was committed.
        PrivacyKeyError: users are pseudonymized and the key is missing.
    """
    if not files:
        raise CatalogFileError("nothing to import: give --items, --promotions and/or --users")
    config = ctx.config.clean
    hmac_key = resolve_hmac_key(config.privacy) if USERS_TABLE in files else None
    report = StageReport(notes={f"file.{t}": p for t, p in files.items()})
    records = read_checked(spark, files)
    checked: dict[str, DataFrame] = {}
    try:
        figures = []
        for table, rec in records.items():
            checked[table] = checked_records(rec.records_df, CONTRACTS[table], config).persist(
                StorageLevel.DISK_ONLY)
            figures.append(_figures(table, rec.path, checked[table]))
            ignored = sorted(set(rec.columns) - set(CONTRACTS[table].columns))
            if ignored:
                report.notes[f"ignored_columns.{table}"] = ",".join(ignored)
        _record_figures(report, figures)
        _enforce_gate(figures, config.catalog.max_bad_share)

        quarantine_df = _union([_quarantine_rows(t, df, hmac_key) for t, df in checked.items()])
        write_output(store, ctx, report, QUARANTINE_TABLE, quarantine_df,
                     partitions={"dimension": sorted(checked)})
        write_dims(store, ctx, report, [DimSnapshot(t, _accepted_rows(t, df, hmac_key))
                                        for t, df in checked.items()])
        report.rows_in = sum(f.records for f in figures)
        report.rows_out = report.rows_in - sum(f.quarantined for f in figures)
        return report
    finally:
        for df in checked.values():
            df.unpersist()


def _figures(table: str, path: str, checked_df: DataFrame) -> FileFigures:
    """Counts of one file: one small aggregate (records, quarantined, per reason)."""
    row = checked_df.agg(
        F.count(F.lit(1)).alias("records"), F.count_if(F.size("reasons") > 0).alias("quarantined"),
        *[F.count_if(F.array_contains("reasons", code)).alias(code) for code in REASON_CODES]).first()
    return FileFigures(table, path, int(row["records"]), int(row["quarantined"]),
                       {code: int(row[code]) for code in REASON_CODES})


def _record_figures(report: StageReport, figures: list[FileFigures]) -> None:
    for f in figures:
        report.metrics[f"{f.table}_records"] = float(f.records)
        report.metrics[f"{f.table}_quarantined"] = float(f.quarantined)
        report.metrics.update({f"{f.table}_quarantined_{code}": float(n)
                               for code, n in f.by_reason.items() if n})
        report.quality[f"BadShare({f.table})"] = f"{f.bad_share:.4f}"


def _enforce_gate(figures: list[FileFigures], max_bad_share: float) -> None:
    """Raise CatalogGateError naming every failing file with its reasons."""
    failed = []
    for f in figures:
        if f.records == 0:
            failed.append(f"{f.table} file {f.path} has no records")
        elif f.bad_share > max_bad_share:
            reasons = ", ".join(f"{code} {n}" for code, n in f.by_reason.items() if n)
            failed.append(f"{f.table} file {f.path}: {f.quarantined} of {f.records} records bad "
                          f"({f.bad_share:.1%} > clean.catalog.max_bad_share "
                          f"{max_bad_share:.1%}; {reasons})")
    if failed:
        raise CatalogGateError("catalog import: " + "; ".join(failed) + "; nothing was committed")


def _union(dfs: list[DataFrame]) -> DataFrame:
    out = dfs[0]
    for df in dfs[1:]:
        out = out.unionByName(df)
    return out


def _quarantine_rows(table: str, checked_df: DataFrame, hmac_key: bytes | None) -> DataFrame:
    """Rejected records in `catalog_quarantine`'s columns (run columns are stamped by the write)."""
    key = F.when(F.col("is_parsed"), F.col(CONTRACTS[table].key))   # a malformed line has none
    if table == USERS_TABLE and hmac_key is not None:
        key = pseudonymize(key, hmac_key)
    return (checked_df.where(F.size("reasons") > 0)
            .select(F.lit(table).alias("dimension"), "source_file", "record_number",
                    F.make_valid_utf8("raw_record").alias("raw_record"), "reasons",
                    key.alias("record_key")))


def _accepted_rows(table: str, checked_df: DataFrame, hmac_key: bytes | None) -> DataFrame:
    """The accepted records as the dimension's rows (origin = catalog)."""
    values = {"origin": F.lit(CATALOG).alias("origin")}
    if table == USERS_TABLE and hmac_key is not None:
        values["user_id"] = pseudonymize(F.col("user_id"), hmac_key).alias("user_id")
    columns = [f.name for f in DIM_SCHEMAS[table].fields if f.name != "run_id"]
    return (checked_df.where(F.size("reasons") == 0)
            .select(*[values.get(c, F.col(c)) for c in columns]))
