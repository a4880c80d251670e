"""Running one stage: timing and its `pipeline_runs` record, also when it fails.

A stage is a function ``(spark, store, ctx) -> StageReport`` that reads its inputs through
:class:`recsys_spark.stage_io.Inputs` and writes its outputs with
:func:`recsys_spark.stage_io.write_output`, filling the report as it goes.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from pyspark.sql import SparkSession

from recsys_spark.errors import RecsysError
from recsys_spark.profiling import format_profile, job_log, profile_log
from recsys_spark.runs import PIPELINE_RUNS_TABLE, RunContext, StageReport
from recsys_spark.schemas import PIPELINE_RUNS
from recsys_spark.stage_io import write_output
from recsys_spark.tables import TableStore

log = logging.getLogger(__name__)

StageFn = Callable[[SparkSession, TableStore, RunContext], StageReport]


def run_stage(spark: SparkSession, store: TableStore, ctx: RunContext, fn: StageFn) -> StageReport:
    """Run ``fn`` and append its `pipeline_runs` row, also when it fails (then re-raise)."""
    started = time.time()
    log.info("stage %s: run %s (attempt %s)", ctx.stage, ctx.run_id, ctx.attempt)
    with job_log(spark) as jobs:
        try:
            report = fn(spark, store, ctx)
        except RecsysError as exc:
            record_stage_run(spark, store, ctx, StageReport(), "failed", started, error=str(exc))
            raise
        except Exception as exc:
            record_stage_run(spark, store, ctx, StageReport(), "failed", started,
                             error=f"{type(exc).__name__}: {exc}"[:2000])
            raise
    if jobs.count is not None:
        report.metrics["spark_jobs"] = float(jobs.count)
    if jobs.jobs:
        profile_log.info(format_profile(f"{ctx.stage} {ctx.run_date}", time.time() - started, jobs))
    record_stage_run(spark, store, ctx, report, "succeeded", started)
    return report


def record_stage_run(spark: SparkSession, store: TableStore, ctx: RunContext, report: StageReport,
                     status: str, started: float, error: str | None = None) -> None:
    """Append one row to `pipeline_runs` (one row per stage attempt)."""
    metrics = {k: float(v) for k, v in report.metrics.items()}
    metrics.update({f"files_read.{table}": float(n) for table, n in report.files_read.items()})
    row: dict[str, Any] = {
        "run_id": ctx.run_id,
        "run_date": ctx.run_date,
        "stage": ctx.stage,
        "attempt": ctx.attempt,
        "status": status,
        "started_at": dt.datetime.fromtimestamp(started, dt.timezone.utc),
        "duration_s": round(time.time() - started, 3),
        "inputs": {k: int(v) for k, v in report.inputs.items()},
        "outputs": {k: int(v) for k, v in report.outputs.items()},
        "rows_in": int(report.rows_in),
        "rows_out": int(report.rows_out),
        "metrics": metrics,
        "quality": dict(report.quality),
        "notes": {"delta_backend": store.backend_name, **report.notes},
        "error": error,
        "config_fingerprint": ctx.config.fingerprint(),
    }
    write_output(store, ctx, None, PIPELINE_RUNS_TABLE, spark.createDataFrame([row], PIPELINE_RUNS))
