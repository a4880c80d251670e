"""The closed loop: warm up once, then per policy day after day bandit -> simulator -> clean.

For every policy, with the same seed and the same warm-up:

1. warm-up (once, reused while its manifest matches): the simulator writes ``warmup_days`` days
   of organic logs (its built-in uniform-random promotions), then the normal pipeline runs on
   them (clean per day, then features, similarity, als, response for the last day). The bandit
   of the last warm-up day is loop day 1, so it is not run here. With ``warmup_from`` a finished
   `recsys run` of those days (warehouse + landing) is copied instead;
2. the warm-up folder is copied to the policy's folder (see workspace.py);
3. loop day d = 1..N, run date D = last warm-up day + d - 1: [re-fit features, similarity, als,
   response for D when ``retrain_every`` says so; otherwise, from day 2, re-score D with the
   latest model, so promotions launched during the loop get scores] -> bandit(policy) for D ->
   the simulator shows its promotions on D + 1 and writes that day's logs -> clean D + 1. The
   bandit recomputes its arm statistics from `events` every run, so each policy learns from its
   own feedback;
4. the policy's days are measured on the ground truth (measure.py) and replace the policy's
   partition of `loop_results` in the main warehouse.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from recsys_spark.bandit.stage import run_bandit
from recsys_spark.config import AppConfig
from recsys_spark.errors import RecsysError
from recsys_spark.loop.measure import measure_policy
from recsys_spark.loop.options import LoopInputError, LoopOptions
from recsys_spark.loop.workspace import WARMUP_DIR, LoopWorkspace, check_copied_tables
from recsys_spark.pipeline import load_stage, run_pipeline
from recsys_spark.response.rescore import SCORING_STAGE
from recsys_spark.runs import RunContext, StageReport, make_run_id
from recsys_spark.schemas.loop import LOOP_RESULTS
from recsys_spark.settings.simulate import SimulatorConfig
from recsys_spark.simulate.api import generate, respond
from recsys_spark.simulate.truth import read_world
from recsys_spark.stage_runner import run_stage
from recsys_spark.tables import TableStore

log = logging.getLogger(__name__)

LOOP_RESULTS_TABLE = "loop_results"
LOOP_STAGE = "simulate_loop"
WARMUP_STAGES = ("clean", "features", "similarity", "als", "response")
RETRAIN_STAGES = ("features", "similarity", "als", "response")
Progress = Callable[[str], None]


class LoopError(RecsysError):
    """A stage inside the loop failed; the message names the policy, stage and date."""


@dataclass
class PolicyOutcome:
    """One policy's loop: its `loop_results` rows (by loop_day) and wall time."""

    policy: str
    rows: list[dict[str, Any]]
    seconds: float

    @property
    def last(self) -> dict[str, Any]:
        return self.rows[-1]


@dataclass
class LoopResult:
    run_id: str
    run_dates: list[dt.date]
    warmup_reused: bool
    warmup_seconds: float
    outcomes: list[PolicyOutcome] = field(default_factory=list)


def loop_dates(config: AppConfig, options: LoopOptions) -> tuple[list[dt.date], list[dt.date]]:
    """(warm-up dates, loop run dates): the loop starts on the last warm-up day."""
    start = dt.date.fromisoformat(config.simulate.start_date)
    days = options.warmup_days if options.warmup_days is not None else config.simulate.days
    warmup = [start + dt.timedelta(days=i) for i in range(days)]
    return warmup, [warmup[-1] + dt.timedelta(days=i) for i in range(options.days)]


def run_loop(spark: SparkSession, config: AppConfig, options: LoopOptions,
             progress: Progress | None = None) -> LoopResult:
    """Run the closed loop for every policy in ``options`` and write `loop_results`.

    Returns:
        The LoopResult with every policy's rows (also written to `loop_results`, one partition
        per policy, in ``config``'s warehouse).

    Raises:
        LoopError: a stage failed inside the warm-up or a policy's loop.
        DataQualityError: the clean stage's gate failed on a simulated day.
    """
    say = progress or (lambda message: log.info("%s", message))
    sim_config = config.simulate.resolve(options.preset)
    warmup_dates, run_dates = loop_dates(config, options)
    workspace = LoopWorkspace.for_config(config)
    started = time.time()
    reused = prepare_warmup(spark, config, workspace, sim_config, warmup_dates, options, say)
    result = LoopResult(make_run_id(config, run_dates[0]), run_dates, reused, time.time() - started)
    store = TableStore(spark, config.warehouse)
    for policy in options.policies:
        began = time.time()
        run_policy(spark, config, workspace, sim_config, policy, options, run_dates, say)
        sink: list[PolicyOutcome] = []
        # One `pipeline_runs` row per policy in the main warehouse (its own attempt number).
        ctx = RunContext(config=config, run_date=run_dates[0], stage=LOOP_STAGE)
        run_stage(spark, store, ctx, functools.partial(
            _write_results, workspace=workspace, config=config, policy=policy, run_dates=run_dates,
            seconds=time.time() - began, sink=sink))
        result.outcomes.append(sink[0])
        say(f"{policy}: cumulative regret {sink[0].last['cumulative_regret']:.4f} after "
            f"{len(run_dates)} days ({sink[0].seconds:.0f} s)")
    return result


def warmup_manifest(config: AppConfig, sim_config: SimulatorConfig, dates: Sequence[dt.date]
                    ) -> dict[str, Any]:
    """What decides the warm-up's content; a matching manifest means it can be reused."""
    manifest = {"config_fingerprint": config.fingerprint(), "simulator": sim_config.to_dict(),
                "seed": config.run.seed, "start_date": dates[0].isoformat(), "days": len(dates),
                "stages": list(WARMUP_STAGES)}
    return json.loads(json.dumps(manifest))


def prepare_warmup(spark: SparkSession, config: AppConfig, workspace: LoopWorkspace,
                   sim_config: SimulatorConfig, dates: Sequence[dt.date], options: LoopOptions,
                   say: Progress) -> bool:
    """Simulate the warm-up days and run the pipeline on them, unless a matching one exists.

    Returns:
        True when an existing warm-up was reused.

    Raises:
        LoopError: a warm-up stage failed.
    """
    manifest = warmup_manifest(config, sim_config, dates)
    if options.warmup_from is not None:
        import_warmup(spark, config, workspace, dates, options.warmup_from, say)
        return True
    if not options.rebuild_warmup and workspace.read_manifest() == manifest:
        say(f"warm-up: reusing {workspace.folder(WARMUP_DIR)}")
        return True
    workspace.remove(WARMUP_DIR)
    wconfig = workspace.config_for(config, WARMUP_DIR)
    began = time.time()
    generate(spark, sim_config, wconfig.landing.root, dates[0], len(dates), config.run.seed)
    say(f"warm-up: simulated {len(dates)} days of the {sim_config.preset} shop in "
        f"{time.time() - began:.0f} s")
    pipeline = run_pipeline(spark, TableStore(spark, wconfig.warehouse), wconfig, dates, WARMUP_STAGES,
                            on_stage_done=lambda o: say(f"warm-up: {o.stage} {o.run_date} "
                                                        f"{o.status} in {o.seconds:.0f} s"))
    if not pipeline.succeeded:
        failed = next(o for o in pipeline.outcomes if o.status == "failed")
        raise LoopError(f"warm-up stage {failed.stage} failed for {failed.run_date}: {failed.error}")
    workspace.write_manifest(manifest)
    return False


def import_warmup(spark: SparkSession, config: AppConfig, workspace: LoopWorkspace,
                  dates: Sequence[dt.date], source: tuple[str, str], say: Progress) -> None:
    """Copy a finished `recsys run` (warehouse, landing) as the warm-up.

    Raises:
        LoopInputError: the run has no succeeded response stage for the last warm-up day, or its
            landing holds no simulated world (the loop needs the simulator's ground truth).
    """
    warehouse_root, landing_root = source
    read_world(landing_root)  # raises SimulatorError: the loop needs a simulated world
    runs = TableStore(spark, dataclasses.replace(config.warehouse, root=warehouse_root))
    if not runs.exists("pipeline_runs") or not runs.read("pipeline_runs").filter(
            (F.col("stage") == "response") & (F.col("status") == "succeeded")
            & (F.col("run_date") == F.lit(dates[-1]))).limit(1).count():
        raise LoopInputError(f"--warmup-from {warehouse_root}: no succeeded response stage for "
                             f"{dates[-1]} (the last warm-up day); run `recsys run` for "
                             f"{dates[0]}..{dates[-1]} first or pass --warmup-days")
    workspace.import_run(warehouse_root, landing_root)
    say(f"warm-up: copied the run in {warehouse_root} ({dates[0]}..{dates[-1]})")


def run_policy(spark: SparkSession, config: AppConfig, workspace: LoopWorkspace,
               sim_config: SimulatorConfig, policy: str, options: LoopOptions,
               run_dates: Sequence[dt.date], say: Progress) -> None:
    """One policy's loop in its own copy of the warm-up folder.

    Raises:
        LoopError: a stage failed.
    """
    workspace.copy(WARMUP_DIR, policy)
    pconfig = workspace.config_for(config, policy)
    store = TableStore(spark, pconfig.warehouse)
    check_copied_tables(pconfig.warehouse.root, store.list_tables())
    bandit_fn = functools.partial(run_bandit, policy=LoopOptions.bandit_policy(policy))
    clean_fn, scoring_fn = load_stage("clean"), load_stage(SCORING_STAGE)
    for day, run_date in enumerate(run_dates, start=1):
        seconds: dict[str, float] = {}
        began = time.time()
        if options.retrains_on(day):
            pipeline = run_pipeline(spark, store, pconfig, [run_date], RETRAIN_STAGES)
            if not pipeline.succeeded:
                failed = next(o for o in pipeline.outcomes if o.status == "failed")
                raise LoopError(f"{policy} loop day {day}: stage {failed.stage} failed for "
                                f"{run_date}: {failed.error}")
            seconds["retrain"] = time.time() - began
        elif day > 1:  # day 1's scores are the warm-up's, of the same run date
            _stage(spark, store, RunContext(pconfig, run_date, SCORING_STAGE), scoring_fn, policy, day)
            seconds["scoring"] = time.time() - began
        mark = time.time()
        _stage(spark, store, RunContext(pconfig, run_date, "bandit"), bandit_fn, policy, day)
        seconds["bandit"], mark = time.time() - mark, time.time()
        plan_df = store.read("user_promotions", partition_filters=[("run_date", "=", run_date)])
        respond(spark, sim_config, pconfig.landing.root, plan_df, run_date, config.run.seed)
        seconds["simulator"], mark = time.time() - mark, time.time()
        _stage(spark, store, RunContext(pconfig, run_date + dt.timedelta(days=1), "clean"), clean_fn,
               policy, day)
        seconds["clean"] = time.time() - mark
        say(f"{policy}: day {day}/{len(run_dates)} ({run_date}) in {time.time() - began:.0f} s ("
            + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()) + ")")


def _stage(spark: SparkSession, store: TableStore, ctx: RunContext, fn, policy: str, day: int) -> None:
    try:
        run_stage(spark, store, ctx, fn)
    except RecsysError:
        raise
    except Exception as exc:  # a bug or a Spark failure: name where it happened, keep the cause
        raise LoopError(f"{policy} loop day {day}: stage {ctx.stage} failed for {ctx.run_date}: "
                        f"{type(exc).__name__}: {exc}"[:2000]) from exc


def _write_results(spark: SparkSession, store: TableStore, ctx: RunContext, *,
                   workspace: LoopWorkspace, config: AppConfig, policy: str,
                   run_dates: Sequence[dt.date], seconds: float, sink: list[PolicyOutcome]
                   ) -> StageReport:
    """Stage function: measure one policy's loop and replace its `loop_results` partition."""
    landing_root = workspace.config_for(config, policy).landing.root
    rows_df = measure_policy(spark, landing_root, run_dates, policy, ctx.run_id)
    # N rows: collected once, then written from the driver so the table equals what is printed.
    rows = [r.asDict() for r in rows_df.orderBy("loop_day").collect()]
    written = store.write(spark.createDataFrame(rows, LOOP_RESULTS), LOOP_RESULTS_TABLE, "overwrite",
                          ctx.commit_info(policy=policy), partition_by=["policy"],
                          replace_partitions={"policy": [policy]},
                          txn=ctx.txn(LOOP_RESULTS_TABLE, policy))
    sink.append(PolicyOutcome(policy, rows, seconds))
    last = rows[-1]
    return StageReport(outputs={LOOP_RESULTS_TABLE: written.version}, rows_out=written.rows_written,
                       metrics={"days": float(len(rows)),
                                "cumulative_reward": float(last["cumulative_reward"]),
                                "cumulative_regret": float(last["cumulative_regret"]),
                                "realized_rewards": float(sum(r["realized_rewards"] for r in rows))},
                       notes={"policy": policy})
