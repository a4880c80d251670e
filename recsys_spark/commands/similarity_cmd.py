"""`recsys similarity --run-date D`: item_similarity (the neighbour lists chosen on validation),
category rollups, every candidate's figures."""
from __future__ import annotations

import argparse

from recsys_spark.commands.decisions import decision_lines
from recsys_spark.commands.session import add_run_date, config_from_args, run_context, stage_session


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("similarity", parents=[parent],
                            help="item-item neighbours and category affinity as of a run date")
    add_run_date(parser)
    parser.set_defaults(func=cmd_similarity)


def cmd_similarity(args: argparse.Namespace) -> int:
    from recsys_spark.similarity.stage import run_similarity
    from recsys_spark.stage_runner import run_stage

    config = config_from_args(args)
    with stage_session(config, "recsys-similarity") as s:
        report = run_stage(s.spark, s.store, run_context(config, args.run_date, "similarity"),
                           run_similarity)
    m = report.metrics
    print(f"similarity {args.run_date}: {int(m.get('similarity_rows', 0))} neighbour rows for "
          f"{int(m.get('items_with_neighbours', 0))} items; wrote "
          + ", ".join(f"{t}@v{v}" for t, v in report.outputs.items()))
    for line in decision_lines("similarity", report):
        print(line)
    return 0
