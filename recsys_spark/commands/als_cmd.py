"""`recsys als --run-date D [--tune]`: fit implicit ALS, write factors, recommendations, metrics."""
from __future__ import annotations

import argparse
import functools

from recsys_spark.commands.session import add_run_date, config_from_args, run_context, stage_session


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("als", parents=[parent],
                            help="implicit ALS: factors, top-N recommendations, category affinity")
    add_run_date(parser)
    parser.add_argument("--tune", action="store_true",
                        help="evaluate the als.tune_* grid on the chronological split and fit the "
                             "best (by NDCG@K); every trial goes to model_metrics")
    parser.set_defaults(func=cmd_als)


def cmd_als(args: argparse.Namespace) -> int:
    from recsys_spark.als.stage import STAGE, run_als
    from recsys_spark.stage_runner import run_stage

    config = config_from_args(args)
    with stage_session(config, "recsys-als") as s:
        ctx = run_context(config, args.run_date, STAGE)
        report = run_stage(s.spark, s.store, ctx, functools.partial(run_als, tune=args.tune))
    k = config.als.k
    summary = [f"als {ctx.run_id}: {report.rows_in} ratings -> {report.rows_out} recommendations",
               f"params {report.notes.get('params', '')}"]
    if f"als_ndcg@{k}" in report.metrics:
        summary.append(f"ndcg@{k} als {report.metrics[f'als_ndcg@{k}']:.4f} vs popularity "
                       f"{report.metrics.get(f'popularity_ndcg@{k}', float('nan')):.4f}")
    elif "evaluation" in report.notes:
        summary.append(report.notes["evaluation"])
    print("; ".join(summary))
    return 0
