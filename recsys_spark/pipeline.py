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
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
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
                 load: Callable[[str], StageFn] = load_stage, parallel: int = 1) -> PipelineResult:
    """Run the daily stages for every date, then the model stages for the last date.

    ``parallel`` > 1 runs up to that many dates' daily stages at once (threads sharing the Spark
    session; dates start in order, and clean commits in date order itself, so the tables equal
    the serial run's). Returns the outcomes; stops at the first failure (its error is in the
    outcome and the `pipeline_runs` table), so later stages never read half-made inputs.
    """
    result = PipelineResult()
    daily = [(s, day) for day in run_dates for s in stages if s in DAILY_STAGES]
    model = [(s, run_dates[-1]) for s in stages if s in MODEL_STAGES]

    def run(stage: str, day: dt.date) -> StageOutcome:
        outcome = _run_one(spark, store, config, stage, day, load)
        if on_stage_done:
            on_stage_done(outcome)
        return outcome

    if parallel > 1 and len(daily) > 1:
        result.outcomes += _run_parallel(daily, run, parallel)
    else:
        for stage, day in daily:
            result.outcomes.append(run(stage, day))
            if result.outcomes[-1].status == "failed":
                return result
    if not result.succeeded:
        return result
    for stage, day in model:
        result.outcomes.append(run(stage, day))
        if result.outcomes[-1].status == "failed":
            break
    return result


def _run_one(spark: SparkSession, store: TableStore, config: AppConfig, stage: str, day: dt.date,
             load: Callable[[str], StageFn]) -> StageOutcome:
    ctx = RunContext(config=config, run_date=day, stage=stage)
    started = time.time()
    try:
        report = run_stage(spark, store, ctx, load(stage))
    except Exception as exc:  # recorded, reported, then the pipeline stops
        log.error("stage %s for %s failed: %s", stage, day, exc)
        return StageOutcome(stage, day, "failed", time.time() - started,
                            error=f"{type(exc).__name__}: {exc}")
    return StageOutcome(stage, day, "succeeded", time.time() - started, report)


def _run_parallel(plan: Sequence[tuple[str, dt.date]],
                  run: Callable[[str, dt.date], StageOutcome], workers: int) -> list[StageOutcome]:
    """Run ``plan`` with up to ``workers`` threads, starting items in order; after a failure no
    new item starts. Outcomes come back in plan order, the earliest failure first among them."""
    outcomes: dict[int, StageOutcome] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="recsys-day") as pool:
        running: dict[Future[StageOutcome], int] = {}
        queue = list(enumerate(plan))
        while queue or running:
            failed = any(o.status == "failed" for o in outcomes.values())
            while queue and not failed and len(running) < workers:
                index, (stage, day) = queue.pop(0)
                running[pool.submit(run, stage, day)] = index
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                outcomes[running.pop(future)] = future.result()
    return [outcomes[i] for i in sorted(outcomes)]
