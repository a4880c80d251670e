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
                 load: Callable[[str], StageFn] = load_stage,
                 stage_options: Mapping[str, Mapping[str, object]] | None = None
                 ) -> PipelineResult:
    """Run the daily stages for every date, then the model stages for the last date.

    ``stage_options``: keyword arguments per stage name, e.g. ``{"clean": {"allow_empty":
    True}}``. Returns the outcomes; stops at the first failure (its error and exit code are in
    the outcome, the error in `pipeline_runs` too), so later stages never read half-made
    inputs. A bug's traceback is logged.
    """
    result = PipelineResult()
    plan: list[tuple[str, dt.date]] = []
    for day in run_dates:
        plan += [(s, day) for s in stages if s in DAILY_STAGES]
    plan += [(s, run_dates[-1]) for s in stages if s in MODEL_STAGES]
    options = stage_options or {}
    for stage, day in plan:
        ctx = RunContext(config=config, run_date=day, stage=stage)
        started = time.time()
        fn = load(stage)
        if options.get(stage):
            fn = functools.partial(fn, **options[stage])
        try:
            report = run_stage(spark, store, ctx, fn)
        except Exception as exc:  # recorded, reported, then the pipeline stops
            code = exit_code_for(exc)
            error = (f"{type(exc).__name__}: {_first_line(exc)}" if code == EXIT_BUG
                     else one_line(exc))
            outcome = StageOutcome(stage, day, "failed", time.time() - started,
                                   error=error, exit_code=code)
            result.outcomes.append(outcome)
            if on_stage_done:
                on_stage_done(outcome)
            log.error("stage %s for %s failed: %s", stage, day, error, exc_info=code == EXIT_BUG)
            break
        outcome = StageOutcome(stage, day, "succeeded", time.time() - started, report)
        result.outcomes.append(outcome)
        if on_stage_done:
            on_stage_done(outcome)
    return result


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
