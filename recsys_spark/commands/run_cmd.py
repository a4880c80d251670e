"""`recsys run`: the whole pipeline on the embedded default (or on data already landed).

With no raw data in the landing folder for the days to run, the seeded shop simulator writes
them first (the ``simulate:`` preset, or ``--preset``). Then `clean` runs for each day and the
model stages for the last day; a summary table is printed at the end. With ``--input`` the
pipeline runs on your own logs instead and never simulates (run_input.py). The exit code is the
failing stage's (see recsys_spark/errors.py); later stages do not run.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time
from pathlib import Path

from recsys_spark.commands.run_input import add_input_options, check_input_options, prepare_input_run
from recsys_spark.commands.session import config_from_args, stage_session
from recsys_spark.config import AppConfig
from recsys_spark.errors import EXIT_BUG, EXIT_OK, ConfigError, exit_code_for, one_line
from recsys_spark.paths import is_local, normalize_root
from recsys_spark.pipeline import StageOutcome, load_stage, run_pipeline, select_stages
from recsys_spark.runs import parse_run_date
from recsys_spark.textformat import render_table

PRESETS = ("tiny", "demo", "bench-1m", "bench-10m", "realistic")


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    run = sub.add_parser("run", parents=[parent], help="run every stage (simulating data if none)")
    run.add_argument("--preset", choices=PRESETS, default=None,
                     help="simulator preset when data must be simulated (default: simulate.preset)")
    run.add_argument("--days", type=int, default=None, help="days to run (default: simulate.days)")
    run.add_argument("--start-date", default=None, metavar="YYYY-MM-DD",
                     help="first day (default: simulate.start_date)")
    run.add_argument("--from", dest="from_date", default=None, metavar="YYYY-MM-DD",
                     help="first run date (with --to; instead of --start-date/--days)")
    run.add_argument("--to", dest="to_date", default=None, metavar="YYYY-MM-DD",
                     help="last run date, inclusive (with --from)")
    run.add_argument("--parallel", type=int, default=1, metavar="N",
                     help="clean up to N dates at once (same tables as one at a time; default 1)")
    run.add_argument("--from-stage", default=None, metavar="STAGE", help="resume from this stage")
    run.add_argument("--only", default=None, metavar="STAGE[,STAGE]", help="run only these stages")
    run.add_argument("--no-simulate", action="store_true",
                     help="never simulate: fail if the landing folder has no data")
    run.add_argument("--no-report", action="store_true",
                     help="skip the HTML report written after a successful run")
    run.add_argument("--allow-empty", action="store_true",
                     help="accept a day without input records (default: clean fails, exit 3)")
    add_input_options(run)
    run.set_defaults(func=cmd_run)


def run_dates(config: AppConfig, args: argparse.Namespace) -> list[dt.date]:
    if args.from_date or args.to_date:
        if not (args.from_date and args.to_date) or args.start_date or args.days is not None:
            raise ConfigError("--from and --to go together, without --start-date/--days")
        first, last = parse_run_date(args.from_date), parse_run_date(args.to_date)
        if last < first:
            raise ConfigError(f"--to {last} is before --from {first}")
        return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    start_text = args.start_date or config.simulate.start_date
    start = parse_run_date(start_text) if args.start_date else dt.date.fromisoformat(start_text)
    days = args.days if args.days is not None else config.simulate.days
    if days < 1:
        raise ConfigError(f"--days {days}: must be >= 1")
    return [start + dt.timedelta(days=i) for i in range(days)]


def landing_has_events(landing_root: str, dates: list[dt.date]) -> bool:
    """True when every day to run already has a raw events folder."""
    if not is_local(landing_root):
        return True  # object stores: data is expected to be landed by the producers
    root = Path(normalize_root(landing_root)) / "events"
    return all((root / f"date={d.isoformat()}").is_dir() for d in dates)


def cmd_run(args: argparse.Namespace) -> int:
    check_input_options(args)
    config = config_from_args(args)
    dates = run_dates(config, args)
    if args.parallel < 1:
        raise ConfigError(f"--parallel {args.parallel}: must be >= 1")
    only = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else []
    stages = select_stages(only, args.from_stage)
    started = time.time()
    with stage_session(config, "recsys-run") as session:
        load = load_stage
        if args.input:  # your own logs: import the catalog, clean the input once; no simulator
            plan = prepare_input_run(session, config, args,
                                     (dates[0], dates[-1]) if args.start_date else None)
            config, dates, load = plan.config, plan.dates, plan.load
        elif not landing_has_events(config.landing.root, dates):
            if args.no_simulate:
                raise ConfigError(f"no raw events under {config.landing.root}/events for "
                                  f"{dates[0]}..{dates[-1]} (and --no-simulate was given)")
            _simulate(session, config, args.preset, dates)
        print(f"running {', '.join(stages)} for {dates[0]}..{dates[-1]}", file=sys.stderr)
        result = run_pipeline(session.spark, session.store, config, dates, stages,
                              on_stage_done=_progress, load=load, parallel=args.parallel,
                              stage_options={"clean": {"allow_empty": args.allow_empty}})
        if result.succeeded and "response" in stages:
            _evaluate_against_truth(session, config, dates[-1])
        report_path, report_error, report_code = None, None, EXIT_OK
        if result.succeeded and not args.no_report:
            report_path, report_error, report_code = _write_report(session.store, dates[-1])
    print(render_table(["stage", "run_date", "status", "seconds", "rows_in", "rows_out", "figures"],
                       [_summary_row(o) for o in result.outcomes]))
    print(f"total {time.time() - started:.1f} s; tables under {normalize_root(config.warehouse.root)}"
          + (f"; report {report_path}" if report_path else ""))
    if report_error:
        print(f"recsys: error: the pipeline succeeded but the report failed: {report_error}",
              file=sys.stderr)
        return report_code
    failed = result.failed
    if failed is not None:
        print(f"recsys: stage {failed.stage} failed for {failed.run_date} (exit "
              f"{failed.exit_code}): {failed.error}; later stages were not run (fix and resume "
              f"with --from-stage {failed.stage})", file=sys.stderr)
    return result.exit_code


def _write_report(store, run_date: dt.date) -> tuple[Path | None, str | None, int]:
    """(report path, None, 0) or (None, why it failed, exit code): the tables are committed
    either way, so a failure is reported after the summary rather than hiding it."""
    from recsys_spark.report import write_report

    print("writing the report", file=sys.stderr, flush=True)
    try:
        return write_report(store, run_date), None, EXIT_OK
    except Exception as exc:
        code = exit_code_for(exc)
        if code == EXIT_BUG:  # keep its traceback, but still print the summary first
            logging.getLogger(__name__).warning("report failed", exc_info=True)
            return None, f"{type(exc).__name__}: {exc}", code
        return None, one_line(exc), code


def _simulate(session, config: AppConfig, preset: str | None, dates: list[dt.date]) -> None:
    from recsys_spark.simulate.api import generate

    sim_config = config.simulate.resolve(preset)
    print(f"simulating the {sim_config.preset} shop: {len(dates)} days from {dates[0]} into "
          f"{config.landing.root}", file=sys.stderr)
    began = time.time()
    summary = generate(session.spark, sim_config, config.landing.root, dates[0], len(dates),
                       config.run.seed)
    print(f"simulated {summary.events:,} events in {time.time() - began:.1f} s", file=sys.stderr)


def _evaluate_against_truth(session, config: AppConfig, run_date: dt.date) -> None:
    """On simulated data: the response scores against the simulator's true probabilities
    (model_metrics, stage simulator_truth). Real data has no ground truth: nothing happens."""
    from recsys_spark.simulate.evaluation import write_response_truth

    write_response_truth(session.spark, session.store, config, run_date)


def _progress(outcome: StageOutcome) -> None:
    print(f"[{outcome.status}] {outcome.stage} {outcome.run_date} in {outcome.seconds:.1f} s",
          file=sys.stderr, flush=True)


def _summary_row(outcome: StageOutcome) -> list[object]:
    report = outcome.report
    figures = ""
    if report is not None and report.metrics:
        shown = list(report.metrics.items())[:4]
        figures = ", ".join(f"{k}={v:.4g}" for k, v in shown)
    if outcome.error:
        figures = outcome.error[:80]
    return [outcome.stage, outcome.run_date, outcome.status, f"{outcome.seconds:.1f}",
            report.rows_in if report else "", report.rows_out if report else "", figures]
