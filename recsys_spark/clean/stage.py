"""The clean stage: raw logs -> `events`, `events_quarantine` and the dimension tables.

read raw lines -> adapter parse -> type -> rules -> bots -> dedup -> conservation check ->
data-quality gates -> publish (see publish.py for the commit order and how reruns heal). The
dimensions come from the day's landing catalog snapshot or, where no catalog exists, from the
logs (clean/catalog/derived.py and each adapter's ``dimensions``).
Nothing is committed before every check has passed (write–audit–publish).
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys_spark.clean import jsonl, obd, quality, rees46
from recsys_spark.clean.canonical import with_typed_fields
from recsys_spark.clean.catalog.derived import derived_states
from recsys_spark.clean.catalog.snapshot import read_snapshot
from recsys_spark.clean.dedup import EXISTING, IN_RUN, with_duplicate_flags
from recsys_spark.clean.privacy import pseudonymize, resolve_hmac_key
from recsys_spark.clean.publish import EVENTS_TABLE, write_dims, write_events, write_quarantine
from recsys_spark.clean.reader import list_input_files, read_lines
from recsys_spark.clean.rules import REASON_CODES, with_bot_reason, with_rule_reasons
from recsys_spark.errors import DataQualityError
from recsys_spark.paths import join_uri
from recsys_spark.runs import RunContext, StageReport, make_run_id
from recsys_spark.schemas.events import EVENTS
from recsys_spark.settings.clean import CleanConfig
from recsys_spark.stage_io import DateWindow, Inputs
from recsys_spark.tables import TableStore

log = logging.getLogger(__name__)

ADAPTERS: dict[str, ModuleType] = {"jsonl": jsonl, "rees46": rees46, "obd": obd}
# Landing folder per source; run date D reads <landing>/<folder>/date=D/.
LANDING_FOLDERS: dict[str, str] = {"jsonl": "events", "rees46": "rees46", "obd": "obd"}
CLEAN, QUARANTINED, DUPLICATE = "clean", "quarantined", "duplicate"


class ConservationError(DataQualityError):
    """Input records != clean + quarantined + duplicates dropped: a bug; nothing committed."""


def default_input(config_landing_root: str, source: str, run_date: dt.date) -> str:
    return join_uri(config_landing_root, f"{LANDING_FOLDERS[source]}/date={run_date.isoformat()}")


def run_date_prefix(ctx: RunContext) -> str:
    """The run-id prefix shared by every run of this run date (whatever the config)."""
    return make_run_id(ctx.config, ctx.run_date).split("-", 1)[0] + "-"


def make_clean_stage(source: str | None = None, input_path: str | None = None
                     ) -> Callable[[SparkSession, TableStore, RunContext], StageReport]:
    """The stage function for stage_runner.run_stage, with the CLI's --source / --input."""

    def stage(spark: SparkSession, store: TableStore, ctx: RunContext) -> StageReport:
        return run_clean(spark, store, ctx, source=source, input_path=input_path)

    return stage


def run_clean(spark: SparkSession, store: TableStore, ctx: RunContext,
              source: str | None = None, input_path: str | None = None) -> StageReport:
    """Clean one run date. Returns the StageReport recorded in `pipeline_runs`.

    Raises:
        PrivacyKeyError: pseudonymization is on and its key is missing (before any read).
        CleanInputError: the input path does not exist.
        ConservationError / DataQualityError: a check failed; nothing was committed.
        ConcurrentWriteError: another run committed meanwhile; nothing (more) was committed.
    """
    config: CleanConfig = ctx.config.clean
    source = source or config.source
    hmac_key = resolve_hmac_key(config.privacy)
    adapter = ADAPTERS[source]
    path = input_path or default_input(ctx.config.landing.root, source, ctx.run_date)
    files = list_input_files(path, adapter.SUFFIXES, getattr(adapter, "EXCLUDED_FILES", ()))
    raw = read_lines(spark, files)
    report = StageReport(notes={"source": source, "input": path, "commit_order":
                                "events, events_quarantine, items/users/promotions, pipeline_runs"})

    # On disk, not in memory: both caches hold every input record (raw text included), and an
    # in-memory cache of that size left a 2 GB driver out of heap at 10M events, while local
    # disk reads (through the OS page cache) cost little here.
    typed_df = parse_lines(raw.lines_df, source, config).persist(StorageLevel.DISK_ONLY)
    classified_df: DataFrame | None = None
    try:
        records_in = typed_df.count()
        base_metrics = {"input_files": len(raw.files), "unreadable_files": len(raw.unreadable_files),
                        "blank_lines": raw.blank_lines, "records_in": records_in}
        if records_in == 0:
            log.info("clean %s: no input records under %s; nothing to do", ctx.run_date, path)
            report.metrics.update({k: float(v) for k, v in base_metrics.items()})
            report.notes["empty_input"] = "true"
            return report

        inputs = Inputs(store, ctx, report)
        existing_df = _existing_events(inputs)
        version_read = inputs.version(EVENTS_TABLE)
        own = F.col("ingested_run_id").startswith(run_date_prefix(ctx))
        other_runs_df = existing_df.where(~own) if existing_df is not None else None
        classified_df = classify(typed_df, ctx.run_date, config, other_runs_df).persist(
            StorageLevel.DISK_ONLY)

        # Audit: everything below is computed and checked before the first commit.
        figures = {"records_in": records_in, **summarize(classified_df, ctx.run_date, config)}
        _check_conservation(records_in, figures)
        history = quality.previous_volumes(inputs, config.quality.volume_history_runs)
        checks = quality.evaluate(figures, history, config.quality,
                                  f"({config.price_min:g}, {config.price_max:g}]")
        quality.enforce(checks, config.quality.enabled)
        snapshots = read_snapshot(spark, join_uri(ctx.config.landing.root,
                                                  f"catalog/date={ctx.run_date.isoformat()}"),
                                  hmac_key)
        events_df = _events_rows(classified_df, ctx, hmac_key)
        derived = derived_states(inputs, adapter.dimensions(spark, path, events_df),
                                 skip={s.table for s in snapshots})

        # Publish.
        touched = set(figures["clean_dates"])
        if existing_df is not None:
            touched |= {r["event_date"] for r in
                        existing_df.where(own).select("event_date").distinct().collect()}
        write_events(store, ctx, report, events_df, other_runs_df, sorted(touched), version_read)
        write_quarantine(store, ctx, report, _quarantine_rows(classified_df))
        write_dims(store, ctx, report, [*snapshots, *derived])

        metrics = {**base_metrics, **{k: v for k, v in figures.items() if k != "clean_dates"},
                   **{f"dim_rows_without_key_{s.table}": s.rows_without_key for s in snapshots}}
        report.rows_in, report.rows_out = records_in, int(figures["clean"])
        report.metrics.update({k: float(v) for k, v in metrics.items()})
        report.quality.update({c.check: c.as_text() for c in checks})
        report.notes["touched_event_dates"] = ",".join(d.isoformat() for d in sorted(touched))
        return report
    finally:
        typed_df.unpersist()
        if classified_df is not None:
            classified_df.unpersist()


def parse_lines(lines_df: DataFrame, source: str, config: CleanConfig) -> DataFrame:
    """Typed canonical records (canonical.TYPED_COLUMNS) from numbered raw lines."""
    return with_typed_fields(ADAPTERS[source].parse(lines_df, config), config.time_zone(source))


def classify(typed_df: DataFrame, run_date: dt.date, config: CleanConfig,
             existing_events_df: DataFrame | None) -> DataFrame:
    """Typed records with ``reasons``, ``bot_key``, ``duplicate_of`` and ``disposition``
    (clean | quarantined | duplicate). ``existing_events_df``: `events` rows (at least
    event_id) other run dates ingested within the lookback, or None."""
    checked_df = with_bot_reason(with_rule_reasons(typed_df, run_date, config), config)
    return (with_duplicate_flags(checked_df, existing_events_df)
            .withColumn("disposition", _disposition()))


def _existing_events(inputs: Inputs) -> DataFrame | None:
    """`events` rows within the lookback window, or None when there is no table yet."""
    run_date = inputs.ctx.run_date
    first = run_date - dt.timedelta(days=inputs.ctx.config.clean.lookback_days)
    last = run_date + dt.timedelta(days=1)   # future_tolerance can reach the next day
    # Pruned from the log: only the lookback's partitions are read, however long the history.
    return inputs.optional(EVENTS_TABLE, DateWindow(first, last))


def _disposition() -> Column:
    return (F.when(F.size("reasons") > 0, F.lit(QUARANTINED))
            .when(F.col("duplicate_of").isNotNull(), F.lit(DUPLICATE))
            .otherwise(F.lit(CLEAN)))


def summarize(classified_df: DataFrame, run_date: dt.date, config: CleanConfig) -> dict[str, Any]:
    """The run's figures in two small aggregates: dispositions, late events, bots, the gates'
    inputs (among clean events) and one count per reason code."""
    is_clean = F.col("disposition") == CLEAN
    is_quarantined = F.col("disposition") == QUARANTINED

    completeness = sorted(config.quality.min_completeness)
    row = classified_df.agg(
        F.count(F.lit(1)).alias("classified"),
        F.count_if(is_clean).alias("clean"),
        F.count_if(is_quarantined).alias("quarantined"),
        F.count_if(F.col("duplicate_of") == IN_RUN).alias("duplicates_in_run"),
        F.count_if(F.col("duplicate_of") == EXISTING).alias("duplicates_existing"),
        F.count_if(is_clean & (F.col("event_date") < F.lit(run_date))).alias("late_accepted"),
        F.count_if(F.array_contains("reasons", "too_old")).alias("late_rejected"),
        F.count_distinct(F.when(F.array_contains("reasons", "bot_traffic"), F.col("bot_key")))
        .alias("bot_users"),
        *[F.count_if(is_clean & F.col(c).isNotNull()).alias(f"nonnull_{c}") for c in completeness],
        F.count_distinct(F.when(is_clean, F.col("event_id"))).alias("distinct_event_id"),
        F.count_if(is_clean & F.col("price").isNotNull()).alias("priced"),
        F.count_if(is_clean & (F.col("price") > config.price_min)
                 & (F.col("price") <= config.price_max)).alias("price_in_bounds"),
        F.collect_set(F.when(is_clean, F.col("event_date"))).alias("clean_dates"),
    ).collect()[0].asDict()
    figures: dict[str, Any] = {k: (v if k == "clean_dates" else int(v or 0)) for k, v in row.items()}
    figures["duplicates"] = figures["duplicates_in_run"] + figures["duplicates_existing"]
    by_reason = dict.fromkeys(REASON_CODES, 0)
    for r in (classified_df.where(is_quarantined).select(F.explode("reasons").alias("reason"))
              .groupBy("reason").count().collect()):
        by_reason[r["reason"]] = int(r["count"])
    figures.update({f"quarantined_{code}": n for code, n in by_reason.items()})
    return figures


def _check_conservation(records_in: int, figures: dict[str, Any]) -> None:
    accounted = figures["clean"] + figures["quarantined"] + figures["duplicates"]
    if accounted != records_in or figures["classified"] != records_in:
        raise ConservationError(
            f"clean: conservation breached: {records_in} input records but {figures['clean']} "
            f"clean + {figures['quarantined']} quarantined + {figures['duplicates']} duplicates "
            f"= {accounted} (classified rows {figures['classified']}); nothing was committed")


def _events_rows(classified_df: DataFrame, ctx: RunContext, hmac_key: bytes | None) -> DataFrame:
    clean_df = classified_df.where(F.col("disposition") == CLEAN)
    user_id = pseudonymize(F.col("user_id"), hmac_key) if hmac_key is not None else F.col("user_id")
    columns = {"user_id": user_id, "ingested_run_id": F.lit(ctx.run_id)}
    return clean_df.select(*[columns.get(f.name, F.col(f.name)).cast(f.dataType).alias(f.name)
                             for f in EVENTS.fields])


def _quarantine_rows(classified_df: DataFrame) -> DataFrame:
    """Rejected records (run columns are stamped by the write)."""
    return (classified_df.where(F.col("disposition") == QUARANTINED)
            .withColumn("event_id", F.make_valid_utf8("event_id")))
