"""`recsys als --run-date D [--tune]`: fit implicit ALS, write factors, recommendations, metrics."""
from __future__ import annotations

import argparse
import functools

from recsys_spark.commands.decisions import decision_lines
from recsys_spark.commands.session import add_run_date, config_from_args, run_context, stage_session


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("als", parents=[parent],
                            help="implicit ALS factors and the chosen top-N item recommendations")
    add_run_date(parser)
    parser.add_argument("--tune", action="store_true",
                        help="choose ALS's parameters from the als.tune_* grid on the validation "
                             "window (by NDCG@k); every trial goes to model_metrics")
    parser.set_defaults(func=cmd_als)


def cmd_als(args: argparse.Namespace) -> int:
    from recsys_spark.als.stage import STAGE, run_als
    from recsys_spark.stage_runner import run_stage

    config = config_from_args(args)
    with stage_session(config, "recsys-als") as s:
        ctx = run_context(config, args.run_date, STAGE)
        report = run_stage(s.spark, s.store, ctx, functools.partial(run_als, tune=args.tune))
    print(f"als {ctx.run_id}: {report.rows_in} ratings -> {report.rows_out} recommendations; "
          f"params {report.notes.get('params', '')}")
    for line in decision_lines("als", report):
        print(line)
    return 0
