"""Data-quality gates in Deequ's vocabulary, evaluated before anything is committed.

They are measured on the records as read, before the rules and deduplication remove anything,
so that a bad feed trips them (measured after the filters, they could not fail). Checks (names
as recorded in `pipeline_runs.quality`):
- ``Completeness(<field>)``: share of parsed records carrying the field (a value of any type);
  catches a field gone missing after an upstream release;
- ``Uniqueness(event_id)``: distinct ids / records that passed the rules, before dedup;
  catches a feed delivered twice or ids stuck at one value;
- ``Compliance(price in bounds)``: share of parsed priced records whose price is a number
  within the bounds;
- ``Compliance(price level)``: the run's median price against the median of recent runs'
  medians, within a factor (prices sent in cents are 100x); skipped without history;
- ``Size``: input records against the median of the last successful non-empty clean runs;
- ``QuarantineShare``: quarantined / input records.
A breach raises :class:`~recsys_spark.errors.DataQualityError` with every failed check.
"""
from __future__ import annotations

import statistics
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from pyspark.sql import Column
from pyspark.sql import functions as F

from recsys_spark.clean.canonical import RECORD_KINDS
from recsys_spark.errors import DataQualityError
from recsys_spark.settings.clean import CleanConfig, QualityConfig
from recsys_spark.stage_io import Inputs

PIPELINE_RUNS_TABLE = "pipeline_runs"
PRICE_MEDIAN = "price_median"


@dataclass(frozen=True)
class CheckResult:
    check: str
    passed: bool
    detail: str

    def as_text(self) -> str:
        return ("pass: " if self.passed else "fail: ") + self.detail


@dataclass(frozen=True)
class EarlierRun:
    """What the gates compare with from one earlier successful run."""

    records_in: int
    price_median: float | None


def as_read_metrics(config: CleanConfig) -> list[Column]:
    """Aggregates over the typed records as read (before rules and dedup), for one pass
    (``DataFrame.observe``). Needs ``line_kind``, ``parse_reasons``, ``bad_fields`` and the
    typed fields."""
    is_record = F.col("line_kind").isin(*RECORD_KINDS)
    parsed = is_record & ~F.array_contains("parse_reasons", "malformed_record") \
        & ~F.array_contains("parse_reasons", "bad_header")

    def present(name: str) -> Column:
        return F.col(name).isNotNull() | F.array_contains("bad_fields", name)

    price = F.col("price")
    in_bounds = parsed & ~F.isnan(price) & (price > config.price_min) & (price <= config.price_max)
    return [
        F.count_if(is_record).alias("records"),
        F.count_if(parsed).alias("parsed"),
        *[F.count_if(parsed & present(f)).alias(f"present_{f}")
          for f in sorted(config.quality.min_completeness)],
        F.count_if(parsed & present("price")).alias("priced"),
        F.count_if(F.coalesce(in_bounds, F.lit(False))).alias("price_in_bounds"),
        F.percentile_approx(F.when(in_bounds, price), 0.5, 10_000).alias(PRICE_MEDIAN),
        F.collect_set(F.when(F.col("line_kind") == "bad_header", F.col("source_file")))
        .alias("bad_header_files"),
    ]


def earlier_runs(inputs: Inputs, limit: int) -> list[EarlierRun]:
    """The latest successful non-empty runs of this stage before the run date (newest first):
    one per run date (its latest successful attempt); a small aggregate of `pipeline_runs`."""
    if not inputs.has(PIPELINE_RUNS_TABLE):
        return []
    run_date, stage = inputs.ctx.run_date, inputs.ctx.stage
    rows = (inputs.read(PIPELINE_RUNS_TABLE, filters=[("run_date", "<", run_date)])
            .where((F.col("stage") == stage) & (F.col("status") == "succeeded")
                   & (F.col("rows_in") > 0))
            .groupBy("run_date")
            .agg(F.max_by(F.struct("rows_in", F.try_element_at("metrics", F.lit(PRICE_MEDIAN))
                                   .alias("price")), "attempt").alias("run"))
            .orderBy(F.col("run_date").desc()).limit(limit).collect())
    return [EarlierRun(int(r["run"]["rows_in"]), r["run"]["price"]) for r in rows]


def evaluate(figures: Mapping[str, float], history: list[EarlierRun], config: QualityConfig,
             price_bounds: str, absent_fields: Collection[str] = ()) -> list[CheckResult]:
    """Gate results from the run's figures (as_read_metrics and the stage's summary) and the
    earlier runs. ``absent_fields``: fields the source never has (no completeness check)."""
    results: list[CheckResult] = []
    parsed = figures["parsed"]
    for column, minimum in sorted(config.min_completeness.items()):
        if column in absent_fields:
            results.append(CheckResult(f"Completeness({column})", True,
                                       "skipped: the source has no such field"))
            continue
        share = 1.0 if parsed == 0 else figures.get(f"present_{column}", 0.0) / parsed
        results.append(CheckResult(f"Completeness({column})", share >= minimum,
                                   f"{share:.4f} of {int(parsed)} parsed records (min {minimum})"))
    candidates = figures["candidates"]
    uniqueness = 1.0 if candidates == 0 else 1.0 - figures["duplicates_in_run"] / candidates
    results.append(CheckResult("Uniqueness(event_id)", uniqueness >= config.min_uniqueness,
                               f"{uniqueness:.4f} of {int(candidates)} records that passed the "
                               f"rules (min {config.min_uniqueness})"))
    priced = figures["priced"]
    compliance = 1.0 if priced == 0 else figures["price_in_bounds"] / priced
    results.append(CheckResult(f"Compliance(price in {price_bounds})",
                               compliance >= config.min_price_compliance,
                               f"{compliance:.4f} of {int(priced)} priced records "
                               f"(min {config.min_price_compliance})"))
    results.append(_price_level(figures.get(PRICE_MEDIAN), history, config))
    records = figures["records_in"]
    share = 0.0 if records == 0 else figures["quarantined"] / records
    results.append(CheckResult("QuarantineShare", share <= config.max_quarantine_share,
                               f"{share:.4f} (max {config.max_quarantine_share})"))
    volumes = [run.records_in for run in history]
    if len(volumes) >= config.volume_min_history:
        median = statistics.median(volumes)
        change = records / median - 1.0
        results.append(CheckResult("Size", abs(change) <= config.max_volume_change,
                                   f"{int(records)} records vs median {median:g} of last "
                                   f"{len(volumes)} runs: {change:+.1%} "
                                   f"(max ±{config.max_volume_change:.0%})"))
    else:
        results.append(CheckResult("Size", True, f"skipped: {len(volumes)} earlier runs "
                                                 f"(need {config.volume_min_history})"))
    return results


def _price_level(median: float | None, history: list[EarlierRun], config: QualityConfig
                 ) -> CheckResult:
    earlier = [run.price_median for run in history if run.price_median]
    name, limit = "Compliance(price level)", config.max_price_level_change
    if median is None or median <= 0 or not earlier:
        return CheckResult(name, True, "skipped: no priced records or no earlier run with prices")
    reference = statistics.median(earlier)
    factor = median / reference
    return CheckResult(name, 1.0 / limit <= factor <= limit,
                       f"median price {median:g} vs {reference:g} (median of last {len(earlier)} "
                       f"runs): x{factor:.3g} (max x{limit:g} either way)")


def enforce(results: list[CheckResult], enabled: bool) -> None:
    """Raise DataQualityError naming every failed check (when the gates are enabled)."""
    failed = [r for r in results if not r.passed]
    if failed and enabled:
        raise DataQualityError("clean: " + "; ".join(f"{r.check} {r.detail}" for r in failed)
                               + "; nothing was committed")
