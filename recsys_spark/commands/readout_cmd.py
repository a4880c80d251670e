"""`recsys readout`: the A/B readout (holdout vs treated users) -> ab_readout."""
from __future__ import annotations

import argparse
import functools

from recsys_spark.commands.session import add_run_date, config_from_args, run_context, stage_session
from recsys_spark.errors import ConfigError
from recsys_spark.runs import summarize
from recsys_spark.stage_runner import run_stage
from recsys_spark.textformat import render_table


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    readout = sub.add_parser("readout", parents=[parent],
                             help="A/B readout of the promotions: holdout vs treated -> ab_readout")
    add_run_date(readout)
    readout.add_argument("--window", type=int, default=None, metavar="DAYS",
                         help="days of plans and outcomes (default: bandit.readout_window_days)")
    readout.set_defaults(func=cmd_readout)


def cmd_readout(args: argparse.Namespace) -> int:
    from recsys_spark.readout.stage import AB_READOUT_TABLE, run_readout

    if args.window is not None and args.window < 1:
        raise ConfigError(f"--window {args.window}: must be >= 1 day")
    config = config_from_args(args)
    with stage_session(config, "recsys-readout") as s:
        ctx = run_context(config, args.run_date, "readout")
        report = run_stage(s.spark, s.store, ctx, functools.partial(run_readout, window_days=args.window))
        rows = (s.store.read(AB_READOUT_TABLE)
                .filter(f"run_date = DATE'{args.run_date.isoformat()}' AND dimension = 'all'")
                .orderBy("metric").collect())
    print(f"readout {ctx.run_id}: {summarize(report.metrics)}")
    print(f"checks: {summarize(report.quality)}")
    for note in report.notes.values():
        print(note)
    if rows:
        print(render_table(
            ["metric", "control", "treated", "uplift", "ci", "p", "incremental"],
            [[r["metric"], _num(r["control_mean"]), _num(r["treated_mean"]), _num(r["uplift"]),
              f"[{_num(r['ci_low'])}, {_num(r['ci_high'])}]", _num(r["p_value"]), _num(r["incremental"])]
             for r in rows]))
    return 0


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
