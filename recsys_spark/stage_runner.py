"""Running one stage: timing, the `pipeline_runs` record, and the idempotent write helpers.

A stage is a function ``(spark, store, ctx) -> StageReport`` that reads its inputs through the
store, writes its outputs with :func:`write_run_partition` (or its own write), and reports.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from recsys_spark.errors import RecsysError
from recsys_spark.runs import RunContext, StageReport, record_stage_run
from recsys_spark.schemas import MODEL_METRICS
from recsys_spark.tables import TableStore, WriteResult

log = logging.getLogger(__name__)

StageFn = Callable[[SparkSession, TableStore, RunContext], StageReport]
MODEL_METRICS_TABLE = "model_metrics"


def run_stage(spark: SparkSession, store: TableStore, ctx: RunContext, fn: StageFn) -> StageReport:
    """Run ``fn`` and append its `pipeline_runs` row, also when it fails (then re-raise)."""
    started = time.time()
    log.info("stage %s: run %s (attempt %s)", ctx.stage, ctx.run_id, ctx.attempt)
    try:
        report = fn(spark, store, ctx)
    except RecsysError as exc:
        record_stage_run(spark, store, ctx, StageReport(), "failed", started, error=str(exc))
        raise
    except Exception as exc:
        record_stage_run(spark, store, ctx, StageReport(), "failed", started,
                         error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    record_stage_run(spark, store, ctx, report, "succeeded", started)
    return report


def write_run_partition(store: TableStore, ctx: RunContext, df: DataFrame, table: str,
                        partition_column: str = "run_date", allow_new_columns: bool = False
                        ) -> WriteResult:
    """Replace this run date's partition of ``table`` with ``df`` (idempotent per run date)."""
    key = ctx.run_date.isoformat()
    return store.write(df, table, "overwrite", ctx.commit_info(), partition_by=[partition_column],
                       replace_partitions={partition_column: [key]},
                       txn=ctx.txn(table, key), allow_new_columns=allow_new_columns)


def write_model_metrics(spark: SparkSession, store: TableStore, ctx: RunContext,
                        rows: Iterable[Mapping[str, Any]]) -> WriteResult:
    """Replace this (run date, stage) slice of `model_metrics` with ``rows``.

    Each row needs ``model``, ``metric``, ``value`` and may give ``split`` and ``params``.
    """
    records = [{
        "run_id": ctx.run_id, "run_date": ctx.run_date, "stage": ctx.stage,
        "model": str(r["model"]), "metric": str(r["metric"]),
        "value": None if r.get("value") is None else float(r["value"]),
        "split": r.get("split"), "params": {k: str(v) for k, v in (r.get("params") or {}).items()},
    } for r in rows]
    df = spark.createDataFrame(records, MODEL_METRICS)
    key = ctx.run_date.isoformat()
    return store.write(df, MODEL_METRICS_TABLE, "overwrite", ctx.commit_info(),
                       partition_by=["run_date", "stage"],
                       replace_partitions={"run_date": [key], "stage": [ctx.stage]},
                       txn=ctx.txn(MODEL_METRICS_TABLE, f"{key}/{ctx.stage}"))
