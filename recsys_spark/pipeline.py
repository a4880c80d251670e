"""One pipeline: simulate (when there is no data), clean each day, then the model stages.

``recsys run`` and ``jobs/run_pipeline.py`` call :func:`run_pipeline`. Each stage runs through
:func:`stage_runner.run_stage`, so every attempt has its `pipeline_runs` row; a failed stage
stops the stages after it, and the run's exit code is that stage's (the table in
:mod:`recsys_spark.errors`).
"""
from __future__ import annotations

import datetime as dt
import functools
import importlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from pyspark.sql import SparkSession

from recsys_spark.config import AppConfig
from recsys_spark.errors import EXIT_BUG, EXIT_OK, RecsysError, exit_code_for, one_line
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
    "readout": "recsys_spark.readout.stage:run_readout",
}
DAILY_STAGES = ("clean",)          # run for every day of the window
MODEL_STAGES = ("features", "similarity", "als", "response", "bandit", "readout")  # run for the last day


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
    exit_code: int = EXIT_OK    # of a failed stage: its error's code (errors.exit_code_for)


@dataclass
class PipelineResult:
    outcomes: list[StageOutcome] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return all(o.status != "failed" for o in self.outcomes)

    @property
    def failed(self) -> StageOutcome | None:
        return next((o for o in self.outcomes if o.status == "failed"), None)

    @property
    def exit_code(self) -> int:
        """0, or the code of the stage that failed (the pipeline stops there)."""
        failed = self.failed
        return failed.exit_code if failed is not None else EXIT_OK


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
                 load: Callable[[str], StageFn] = load_stage, parallel: int = 1,
                 stage_options: Mapping[str, Mapping[str, object]] | None = None
                 ) -> PipelineResult:
    """Run the daily stages for every date, then the model stages for the last date.

    ``parallel`` > 1 runs up to that many dates' daily stages at once (threads sharing the Spark
    session; dates start in order, and clean commits in date order itself, so the tables equal
    the serial run's). ``stage_options``: keyword arguments per stage name, e.g.
    ``{"clean": {"allow_empty": True}}``. Returns the outcomes; stops at the first failure (its
    error and exit code are in the outcome, the error in `pipeline_runs` too), so later stages
    never read half-made inputs. A bug's traceback is logged.
    """
    result = PipelineResult()
    daily = [(s, day) for day in run_dates for s in stages if s in DAILY_STAGES]
    model = [(s, run_dates[-1]) for s in stages if s in MODEL_STAGES]
    options = stage_options or {}

    def run(stage: str, day: dt.date) -> StageOutcome:
        fn = load(stage)
        if options.get(stage):
            fn = functools.partial(fn, **options[stage])
        outcome = _run_one(spark, store, config, stage, day, fn)
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _run_one(spark: SparkSession, store: TableStore, config: AppConfig, stage: str, day: dt.date,
             fn: StageFn) -> StageOutcome:
    ctx = RunContext(config=config, run_date=day, stage=stage)
    started = time.time()
    try:
        report = run_stage(spark, store, ctx, fn)
    except Exception as exc:  # recorded, reported, then the pipeline stops
        code = exit_code_for(exc)
        error = (f"{type(exc).__name__}: {_first_line(exc)}" if code == EXIT_BUG
                 else one_line(exc))
        log.error("stage %s for %s failed: %s", stage, day, error, exc_info=code == EXIT_BUG)
        return StageOutcome(stage, day, "failed", time.time() - started,
                            error=error, exit_code=code)
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
