"""`recsys report`: the pipeline's results as one self-contained HTML page with plots."""
from __future__ import annotations

import argparse

from recsys_spark.commands.session import add_run_date, config_from_args, stage_session
from recsys_spark.tables import TableStore


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    report = sub.add_parser("report", parents=[parent],
                            help="HTML report with plots: data quality, models, bandit, loop, OPE")
    add_run_date(report, required=False,
                 help="the run date to report on (default: the latest run date in pipeline_runs)")
    report.add_argument("--output", default=None, metavar="PATH",
                        help="HTML file to write (default: <warehouse>/_reports/report-<date>.html)")
    report.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from recsys_spark.report import Snapshot, resolve_run_date, write_report

    config = config_from_args(args)
    # An empty warehouse or a date without runs is found from the Delta logs, before Spark starts.
    run_date = resolve_run_date(Snapshot(TableStore(None, config.warehouse)), args.run_date)
    with stage_session(config, "recsys-report") as s:
        path = write_report(s.store, run_date, args.output)
    print(f"report written to {path}")
    return 0
