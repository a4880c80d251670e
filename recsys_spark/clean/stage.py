"""The clean stage: raw logs -> `events`, `events_quarantine` and the dimension tables.

read raw lines -> adapter parse -> type -> rules (one pass over the raw text, kept on local disk,
with the as-read figures the gates need) -> bots -> [commit order: earlier dates first] ->
dedup marks (narrow rows) -> one summary -> conservation check and data-quality gates ->
publish (see publish.py for the commit order and how reruns heal). The dimensions come from
the day's landing catalog snapshot or, where no catalog exists, from the logs
(clean/catalog/derived.py and each adapter's ``dimensions``).
Nothing is committed before every check has passed (write–audit–publish).
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from recsys_spark.clean import jsonl, obd, quality, rees46
from recsys_spark.clean.canonical import RECORD_KINDS, with_typed_fields
from recsys_spark.clean.catalog.derived import derived_states
from recsys_spark.clean.catalog.snapshot import read_snapshot
from recsys_spark.clean.dedup import EXISTING, IN_RUN, duplicate_marks, with_duplicate_flags
from recsys_spark.clean.order import dates_to_wait_for, wait_for_earlier_runs
from recsys_spark.clean.privacy import pseudonymize, pseudonymize_raw_text, resolve_hmac_key
from recsys_spark.clean.publish import (
    EVENTS_TABLE,
    events_commit_mark,
    owned_event_dates,
    write_dims,
    write_events,
    write_quarantine,
)
from recsys_spark.clean.reader import (
    TRUNCATED,
    FileProblem,
    FileStats,
    file_problems,
    list_input_files,
    path_exists,
    read_lines,
    with_line_numbers,
)
from recsys_spark.clean.rules import REASON_CODES, bot_keys, with_bot_reason, with_rule_reasons
from recsys_spark.errors import EXIT_BUG, DataQualityError, SchemaMismatchError
from recsys_spark.paths import join_uri
from recsys_spark.runs import RunContext, StageReport
from recsys_spark.schemas.events import EVENTS, EVENTS_QUARANTINE
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

    exit_code = EXIT_BUG


class EmptyInputError(DataQualityError):
    """The run date's input holds no records and the run did not say an empty day is fine
    (``allow_empty``): a missing feed must not look like a success to a scheduler."""


def default_input(config_landing_root: str, source: str, run_date: dt.date) -> str:
    return join_uri(config_landing_root, f"{LANDING_FOLDERS[source]}/date={run_date.isoformat()}")



def make_clean_stage(source: str | None = None, input_path: str | None = None,
                     allow_empty: bool = False
                     ) -> Callable[[SparkSession, TableStore, RunContext], StageReport]:
    """The stage function for stage_runner.run_stage, with the CLI's --source / --input /
    --allow-empty."""

    def stage(spark: SparkSession, store: TableStore, ctx: RunContext) -> StageReport:
        return run_clean(spark, store, ctx, source=source, input_path=input_path,
                         allow_empty=allow_empty)

    return stage


class StepClock:
    """Wall seconds per step of a run, reported as ``seconds_<step>`` metrics (where time goes)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.seconds[f"seconds_{step}"] = round(now - self._last, 3)
        self._last = now


class Scratch:
    """Intermediate results of one run kept on local disk, so that the raw text is read and
    parsed once; released when the run ends, whatever happens.

    Measured at 1M records (probe, same session): later passes over a DISK_ONLY cache of the
    parsed records took 1.4 s (block stats), 4.2 s (bots) and 4.3 s (an events-sized write),
    against 4.8, 18.9 and 12.2 s over the same records staged as Parquet.
    """

    def __init__(self) -> None:
        self._kept: list[DataFrame] = []

    def keep(self, df: DataFrame, observation: Observation | None = None,
             metrics: Sequence[Column] = ()) -> DataFrame:
        """``df`` materialized (one Spark job); ``metrics`` are computed in the same pass."""
        kept = df.persist(StorageLevel.DISK_ONLY)
        self._kept.append(kept)
        action_df = kept.observe(observation, *metrics) if observation is not None else kept
        action_df.write.format("noop").mode("overwrite").save()
        return kept

    def release(self) -> None:
        for df in self._kept:
            df.unpersist()


def run_clean(spark: SparkSession, store: TableStore, ctx: RunContext,
              source: str | None = None, input_path: str | None = None,
              allow_empty: bool = False) -> StageReport:
    """Clean one run date. Returns the StageReport recorded in `pipeline_runs` (an accepted
    empty day: notes ``empty_input=true``, nothing else committed).

    Raises:
        PrivacyKeyError: pseudonymization is on and its key is missing (before any read).
        CleanInputError: the input path does not exist.
        EmptyInputError: the input holds no records and ``allow_empty`` is off.
        ConservationError / DataQualityError: a check failed; nothing was committed.
        EarlierRunPendingError: an earlier landed run date is not cleaned (order.py).
        ConcurrentWriteError: another attempt of this run date committed meanwhile.
    """
    config: CleanConfig = ctx.config.clean
    source = source or config.source
    hmac_key = resolve_hmac_key(config.privacy)
    adapter = ADAPTERS[source]
    path = input_path or default_input(ctx.config.landing.root, source, ctx.run_date)
    files = list_input_files(path, adapter.SUFFIXES, getattr(adapter, "EXCLUDED_FILES", ()))
    _check_events_layout(store)
    mark = events_commit_mark(store, ctx)
    report = StageReport(notes={"source": source, "input": path, "commit_order":
                                "events, events_quarantine, items/users/promotions, pipeline_runs"})
    scratch = Scratch()
    clock = StepClock()
    try:
        # Pass 1 over the raw text: parse, type, rules; the as-read figures on the way.
        as_read = Observation("clean_as_read")
        staged_df = scratch.keep(with_rule_reasons(parse_lines(read_lines(spark, files), source,
                                                               config), ctx.run_date, config),
                                 as_read, quality.as_read_metrics(config))
        figures: dict[str, Any] = dict(as_read.get)
        stats = FileStats.collect(staged_df)
        problems = file_problems(files, stats)
        clock.lap("parse")
        records_in = int(figures["records"]) + len(problems)
        base_metrics = {"input_files": len(files),
                        "unreadable_files": sum(p.kind != TRUNCATED for p in problems),
                        "truncated_files": sum(p.kind == TRUNCATED for p in problems),
                        "blank_lines": stats.blank_lines, "records_in": records_in}
        if records_in == 0:
            if not allow_empty:
                raise EmptyInputError(
                    f"clean {ctx.run_date}: no input records under {path} ({len(files)} files, "
                    f"{stats.blank_lines} blank lines); nothing was committed (if the day is "
                    "really empty, rerun with --allow-empty)")
            log.info("clean %s: no input records under %s; empty day allowed", ctx.run_date, path)
            report.metrics.update({k: float(v) for k, v in base_metrics.items()})
            report.notes["empty_input"] = "true"
            return report
        found = Observation("clean_bots")
        bots_df = scratch.keep(bot_keys(staged_df, config), found, [F.count(F.lit(1)).alias("n")])
        records_df = with_file_reasons(
            with_bot_reason(staged_df.where(_is_record()), bots_df,
                            broadcast=found.get["n"] <= config.max_broadcast_marks),
            figures.pop("bad_header_files") or [])
        clock.lap("bots")

        # Commit order: the earlier dates this run dedups against are committed first.
        if input_path is None:
            landing = ctx.config.landing.root
            wait_for_earlier_runs(store, ctx, dates_to_wait_for(
                ctx, lambda day: path_exists(default_input(landing, source, day))),
                config.wait_for_earlier_s)
        clock.lap("wait")
        inputs = Inputs(store, ctx, report)
        marked = Observation("clean_marks")
        marks_df = scratch.keep(duplicate_marks(records_df.where(F.size("reasons") == 0),
                                                _existing_ids(inputs)),
                                marked, [F.count(F.lit(1)).alias("marks")])
        classified_df = classify_records(
            records_df, marks_df, broadcast=marked.get["marks"] <= config.max_broadcast_marks)
        clock.lap("dedup")

        # Audit: everything below is computed and checked before the first commit.
        figures.update(records_in=records_in, **summarize(classified_df, ctx.run_date, config))
        _add_file_problems(figures, problems)
        _check_conservation(records_in, figures)
        history = quality.earlier_runs(inputs, config.quality.volume_history_runs)
        checks = quality.evaluate(figures, history, config.quality,
                                  f"({config.price_min:g}, {config.price_max:g}]",
                                  absent_fields=getattr(adapter, "ABSENT_FIELDS", ()))
        quality.enforce(checks, config.quality.enabled)
        clock.lap("audit")
        snapshots = read_snapshot(spark, join_uri(ctx.config.landing.root,
                                                  f"catalog/date={ctx.run_date.isoformat()}"),
                                  hmac_key)
        events_df = _events_rows(classified_df, ctx, hmac_key)
        derived = derived_states(inputs, adapter.dimensions(spark, path, events_df),
                                 skip={s.table for s in snapshots})
        clock.lap("catalog")

        # Publish.
        touched = set(figures["clean_dates"]) | set(owned_event_dates(store, ctx))
        write_events(store, ctx, report, events_df, sorted(touched), mark)
        clock.lap("write_events")
        offsets_df = stats.offsets_df(spark)
        write_quarantine(store, ctx, report, _quarantine_rows(
            spark, classified_df, offsets_df, problems, source, config, hmac_key))
        clock.lap("write_quarantine")
        write_dims(store, ctx, report, [*snapshots, *derived])
        clock.lap("write_dims")

        hidden = ("clean_dates", "classified")
        metrics = {**base_metrics, **{k: v for k, v in figures.items()
                                      if k not in hidden and v is not None},
                   **{f"dim_rows_without_key_{s.table}": s.rows_without_key for s in snapshots},
                   **clock.seconds}
        report.rows_in, report.rows_out = records_in, int(figures["clean"])
        report.metrics.update({k: float(v) for k, v in metrics.items()})
        report.quality.update({c.check: c.as_text() for c in checks})
        report.notes["touched_event_dates"] = ",".join(d.isoformat() for d in sorted(touched))
        return report
    finally:
        scratch.release()


def parse_lines(lines_df: DataFrame, source: str, config: CleanConfig) -> DataFrame:
    """Typed canonical records (canonical.TYPED_COLUMNS) from raw lines (reader.read_lines)."""
    return with_typed_fields(ADAPTERS[source].parse(lines_df, config), config.time_zone(source))


def classify(typed_df: DataFrame, run_date: dt.date, config: CleanConfig,
             existing_events_df: DataFrame | None) -> DataFrame:
    """Records with ``reasons``, ``bot_key``, ``duplicate_of`` and ``disposition`` (clean |
    quarantined | duplicate), in one lazy plan (the stage runs the same steps with its
    intermediates kept). ``existing_events_df``: `events` rows (at least event_id) other run
    dates ingested within the lookback, or None."""
    checked_df = with_rule_reasons(typed_df, run_date, config)
    bad_header_files = [r[0] for r in checked_df.where(F.col("line_kind") == "bad_header")
                        .select("source_file").distinct().collect()]
    records_df = with_file_reasons(
        with_bot_reason(checked_df.where(_is_record()), bot_keys(checked_df, config)),
        bad_header_files)
    marks_df = duplicate_marks(records_df.where(F.size("reasons") == 0), existing_events_df)
    return classify_records(records_df, marks_df)


def with_file_reasons(records_df: DataFrame, bad_header_files: Sequence[str]) -> DataFrame:
    """Every record of a file with a header of another layout gets bad_header: its columns
    cannot be trusted."""
    if not bad_header_files:
        return records_df
    in_bad_file = F.col("source_file").isin(list(bad_header_files))
    return records_df.withColumn("reasons", F.when(
        in_bad_file, F.array_union(F.array(F.lit("bad_header")), F.col("reasons")))
        .otherwise(F.col("reasons")))


def classify_records(records_df: DataFrame, marks_df: DataFrame, broadcast: bool = True
                     ) -> DataFrame:
    """``records_df`` (rules and bots applied) with ``duplicate_of`` and ``disposition``."""
    flagged_df = with_duplicate_flags(records_df, marks_df, broadcast=broadcast)
    disposition = (F.when(F.size("reasons") > 0, F.lit(QUARANTINED))
                   .when(F.col("duplicate_of").isNotNull(), F.lit(DUPLICATE))
                   .otherwise(F.lit(CLEAN)))
    return flagged_df.withColumn("disposition", disposition)


def _is_record() -> Column:
    return F.col("line_kind").isin(*RECORD_KINDS)


def _check_events_layout(store: TableStore) -> None:
    """An `events` table from before the (event_date, run_date) layout cannot be written."""
    if not store.exists(EVENTS_TABLE):
        return
    columns = store.info(EVENTS_TABLE).partition_columns
    if tuple(columns) != ("event_date", "run_date"):
        raise SchemaMismatchError(
            f"table {EVENTS_TABLE} is partitioned by {', '.join(columns)}; this version writes "
            "(event_date, run_date): rebuild it by re-cleaning the run dates into a new "
            "warehouse (or move the old table away)")


def _existing_ids(inputs: Inputs) -> DataFrame | None:
    """Event ids other run dates ingested within the lookback window, or None (no table yet).
    Pruned from the log: only the lookback's partitions of other run dates are read."""
    if not inputs.has(EVENTS_TABLE):
        return None
    run_date = inputs.ctx.run_date
    first = run_date - dt.timedelta(days=inputs.ctx.config.clean.lookback_days)
    last = run_date + dt.timedelta(days=1)   # future_tolerance can reach the next day
    return inputs.read(EVENTS_TABLE, DateWindow(first, last),
                       filters=[("run_date", "!=", run_date)]).select("event_id")


def summarize(classified_df: DataFrame, run_date: dt.date, config: CleanConfig) -> dict[str, Any]:
    """The run's figures in one small aggregate: dispositions, late events, bots, the records
    that passed the rules (dedup candidates) and one count per reason code."""
    is_clean = F.col("disposition") == CLEAN
    is_quarantined = F.col("disposition") == QUARANTINED
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
        *[F.count_if(is_quarantined & F.array_contains("reasons", code))
          .alias(f"quarantined_{code}") for code in REASON_CODES],
        F.collect_set(F.when(is_clean, F.col("event_date"))).alias("clean_dates"),
    ).collect()[0].asDict()
    figures: dict[str, Any] = {k: (v if k == "clean_dates" else int(v or 0)) for k, v in row.items()}
    figures["duplicates"] = figures["duplicates_in_run"] + figures["duplicates_existing"]
    figures["candidates"] = figures["clean"] + figures["duplicates"]
    return figures


def _add_file_problems(figures: dict[str, Any], problems: Sequence[FileProblem]) -> None:
    """A file that lost content is one more quarantined record (classified like the rest)."""
    for problem in problems:
        code = "truncated_file" if problem.kind == TRUNCATED else "malformed_record"
        figures[f"quarantined_{code}"] += 1
        figures["quarantined"] += 1
        figures["classified"] += 1


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
    columns = {"user_id": user_id, "ingested_run_id": F.lit(ctx.run_id),
               "run_date": F.lit(ctx.run_date)}
    return clean_df.select(*[columns.get(f.name, F.col(f.name)).cast(f.dataType).alias(f.name)
                             for f in EVENTS.fields])


def _quarantine_rows(spark: SparkSession, classified_df: DataFrame, offsets_df: DataFrame,
                     problems: Sequence[FileProblem], source: str, config: CleanConfig,
                     hmac_key: bytes | None) -> DataFrame:
    """Rejected records with their line numbers, plus one row per file that lost content (run
    columns are stamped by the write). An oversized raw text is cut to
    ``max_record_bytes`` characters; with pseudonymization on, user ids in the raw text are
    replaced (or the text dropped), see privacy.quarantine_raw."""
    limit = config.max_record_bytes
    raw = F.col("raw_record")
    detail = F.concat_ws("; ",
                         F.when(F.octet_length(raw) > limit, F.format_string(
                             "raw record of %d bytes; its first %d characters are kept",
                             F.octet_length(raw), F.lit(limit))),
                         F.when(F.size("nested_fields") > 0, F.concat(
                             F.lit("nested JSON in "), F.array_join("nested_fields", ", "))))
    kept_raw = F.when(F.octet_length(raw) > limit, F.substring(raw, 1, limit)).otherwise(raw)
    if hmac_key is not None:
        user_keys = ["user_id", *[k for k, v in config.renames.items() if v == "user_id"]]
        kept_raw = (F.lit(None).cast("string") if config.privacy.quarantine_raw == "drop"
                    else pseudonymize_raw_text(kept_raw, source, F.col("user_id"), hmac_key,
                                               user_keys))
    rows_df = with_line_numbers(classified_df.where(F.col("disposition") == QUARANTINED),
                                offsets_df).select(
        "source", "source_file", "line_number", "record_seq", kept_raw.alias("raw_record"),
        "reasons", F.make_valid_utf8("event_id").alias("event_id"), "event_time",
        F.nullif(detail, F.lit("")).alias("detail"))
    if not problems:
        return rows_df
    lost_df = spark.createDataFrame(
        [(source, p.path, None, 0, None,
          ["truncated_file" if p.kind == TRUNCATED else "malformed_record"], None, None, p.detail)
         for p in problems],
        StructType(EVENTS_QUARANTINE.fields[2:]))
    return rows_df.unionByName(lost_df)
