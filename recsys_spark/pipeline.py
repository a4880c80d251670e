"""One pipeline: simulate (when there is no data), clean each day, then the model stages.

``recsys run`` and ``jobs/run_pipeline.py`` call :func:`run_pipeline`. Each stage runs through
:func:`stage_runner.run_stage`, so every attempt has its `pipeline_runs` row; a failed stage
stops the stages after it.
"""
from __future__ import annotations

import datetime as dt
import importlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pyspark.sql import SparkSession

from recsys_spark.config import AppConfig
from recsys_spark.errors import RecsysError
from recsys_spark.runs import RunContext, StageReport
from recsys_spark.stage_runner import StageFn, run_stage
from recsys_spark.tables import TableStore

log = logging.getLogger(__name__)

# Stage name -> "module:function" of a StageFn; imported only when the stage runs.
STAGES: dict[str, str] = {
    "clean": "recsys_spark.clean.stage:run_clean",
    "features": "recsys_spark.features.stage:run_features",
    "similarity": "recsys_spark.similarity.stage:run_similarity",
    "als": "recsys_spark.als.stage:run_als",
    "response": "recsys_spark.response.stage:run_response",
    # `recsys response --score-only` and the closed loop; not a step of `recsys run`.
    "response_scoring": "recsys_spark.response.rescore:run_response_scoring",
    "bandit": "recsys_spark.bandit.stage:run_bandit",
}
DAILY_STAGES = ("clean",)          # run for every day of the window
MODEL_STAGES = ("features", "similarity", "als", "response", "bandit")  # run for the last day


class PipelineError(RecsysError):
    """A stage failed; the stages after it did not run."""


def load_stage(name: str) -> StageFn:
    module_name, _, attr = STAGES[name].partition(":")
    return getattr(importlib.import_module(module_name), attr)


@dataclass
class StageOutcome:
    stage: str
    run_date: dt.date
    status: str
    seconds: float
    report: StageReport | None = None
    error: str | None = None


@dataclass
class PipelineResult:
    outcomes: list[StageOutcome] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return all(o.status != "failed" for o in self.outcomes)


def select_stages(only: Sequence[str] = (), from_stage: str | None = None) -> list[str]:
    """The stages to run, in pipeline order. Raises PipelineError for unknown names."""
    order = list(DAILY_STAGES) + list(MODEL_STAGES)
    for name in [*only, *([from_stage] if from_stage else [])]:
        if name not in order:
            raise PipelineError(f"unknown stage {name!r} (stages: {', '.join(order)})")
    if only:
        return [s for s in order if s in only]
    if from_stage:
        return order[order.index(from_stage):]
    return order


def run_pipeline(spark: SparkSession, store: TableStore, config: AppConfig,
                 run_dates: Sequence[dt.date], stages: Sequence[str],
                 on_stage_done: Callable[[StageOutcome], None] | None = None,
                 load: Callable[[str], StageFn] = load_stage) -> PipelineResult:
    """Run the daily stages for every date, then the model stages for the last date.

    Returns the outcomes; stops at the first failure (its error is in the outcome and the
    `pipeline_runs` table), so later stages never read half-made inputs.
    """
    result = PipelineResult()
    plan: list[tuple[str, dt.date]] = []
    for day in run_dates:
        plan += [(s, day) for s in stages if s in DAILY_STAGES]
    plan += [(s, run_dates[-1]) for s in stages if s in MODEL_STAGES]
    for stage, day in plan:
        ctx = RunContext(config=config, run_date=day, stage=stage)
        started = time.time()
        try:
            report = run_stage(spark, store, ctx, load(stage))
        except Exception as exc:  # recorded, reported, then the pipeline stops
            outcome = StageOutcome(stage, day, "failed", time.time() - started,
                                   error=f"{type(exc).__name__}: {exc}")
            result.outcomes.append(outcome)
            if on_stage_done:
                on_stage_done(outcome)
            log.error("stage %s for %s failed: %s", stage, day, exc)
            break
        outcome = StageOutcome(stage, day, "succeeded", time.time() - started, report)
        result.outcomes.append(outcome)
        if on_stage_done:
            on_stage_done(outcome)
    return result
