"""Data-quality gates in Deequ's vocabulary, evaluated before anything is committed.

Checks (names as recorded in `pipeline_runs.quality`):
- ``Completeness(<column>)``: share of non-null values among the run's clean events;
- ``Uniqueness(event_id)``: distinct ids / clean events;
- ``Compliance(price in bounds)``: share of priced clean events within the price bounds;
- ``Size``: input records against the median of the last successful non-empty clean runs;
- ``QuarantineShare``: quarantined / input records.
A breach raises :class:`~recsys_spark.errors.DataQualityError` with every failed check.
"""
from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass

from pyspark.sql import functions as F

from recsys_spark.errors import DataQualityError
from recsys_spark.settings.clean import QualityConfig
from recsys_spark.stage_io import Inputs

PIPELINE_RUNS_TABLE = "pipeline_runs"


@dataclass(frozen=True)
class CheckResult:
    check: str
    passed: bool
    detail: str

    def as_text(self) -> str:
        return ("pass: " if self.passed else "fail: ") + self.detail


def previous_volumes(inputs: Inputs, limit: int) -> list[int]:
    """Input records of the latest successful non-empty runs of this stage before the run date
    (newest first).

    One figure per run date (its latest successful attempt); a small aggregate of
    `pipeline_runs`, collected on the driver.
    """
    if not inputs.has(PIPELINE_RUNS_TABLE):
        return []
    run_date, stage = inputs.ctx.run_date, inputs.ctx.stage
    rows = (inputs.read(PIPELINE_RUNS_TABLE, filters=[("run_date", "<", run_date)])
            .where((F.col("stage") == stage) & (F.col("status") == "succeeded")
                   & (F.col("rows_in") > 0))
            .groupBy("run_date").agg(F.max_by("rows_in", "attempt").alias("rows_in"))
            .orderBy(F.col("run_date").desc()).limit(limit).collect())
    return [int(r["rows_in"]) for r in rows]


def evaluate(figures: Mapping[str, float], history: list[int], config: QualityConfig,
             price_bounds: str) -> list[CheckResult]:
    """Gate results from the run's figures (see clean.summarize) and the volume history."""
    results: list[CheckResult] = []
    clean = figures["clean"]
    for column, minimum in config.min_completeness.items():
        share = 1.0 if clean == 0 else figures.get(f"nonnull_{column}", 0.0) / clean
        results.append(CheckResult(f"Completeness({column})", share >= minimum,
                                   f"{share:.4f} (min {minimum})"))
    uniqueness = 1.0 if clean == 0 else figures["distinct_event_id"] / clean
    results.append(CheckResult("Uniqueness(event_id)", uniqueness >= config.min_uniqueness,
                               f"{uniqueness:.4f} (min {config.min_uniqueness})"))
    priced = figures["priced"]
    compliance = 1.0 if priced == 0 else figures["price_in_bounds"] / priced
    results.append(CheckResult(f"Compliance(price in {price_bounds})",
                               compliance >= config.min_price_compliance,
                               f"{compliance:.4f} (min {config.min_price_compliance})"))
    records = figures["records_in"]
    share = 0.0 if records == 0 else figures["quarantined"] / records
    results.append(CheckResult("QuarantineShare", share <= config.max_quarantine_share,
                               f"{share:.4f} (max {config.max_quarantine_share})"))
    if len(history) >= config.volume_min_history:
        median = statistics.median(history)
        change = records / median - 1.0
        results.append(CheckResult("Size", abs(change) <= config.max_volume_change,
                                   f"{int(records)} records vs median {median:g} of last "
                                   f"{len(history)} runs: {change:+.1%} "
                                   f"(max ±{config.max_volume_change:.0%})"))
    else:
        results.append(CheckResult("Size", True, f"skipped: {len(history)} earlier runs "
                                                 f"(need {config.volume_min_history})"))
    return results


def enforce(results: list[CheckResult], enabled: bool) -> None:
    """Raise DataQualityError naming every failed check (when the gates are enabled)."""
    failed = [r for r in results if not r.passed]
    if failed and enabled:
        raise DataQualityError("clean: " + "; ".join(f"{r.check} {r.detail}" for r in failed)
                               + "; nothing was committed")
