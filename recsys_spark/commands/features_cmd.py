"""`recsys features --run-date D`: user_features, user_segments, segment_centroids, item_stats."""
from __future__ import annotations

import argparse

from recsys_spark.commands.decisions import decision_lines
from recsys_spark.commands.session import add_run_date, config_from_args, run_context, stage_session


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("features", parents=[parent],
                            help="user features, KMeans/RFM segments and item stats as of a run date")
    add_run_date(parser)
    parser.set_defaults(func=cmd_features)


def cmd_features(args: argparse.Namespace) -> int:
    from recsys_spark.features.stage import run_features
    from recsys_spark.stage_runner import run_stage

    config = config_from_args(args)
    with stage_session(config, "recsys-features") as s:
        report = run_stage(s.spark, s.store, run_context(config, args.run_date, "features"), run_features)
    m = report.metrics
    print(f"features {args.run_date}: {int(m.get('users', 0))} users "
          f"({int(m.get('users_with_history', 0))} with history), {int(m.get('segments', 0))} segments; "
          f"wrote " + ", ".join(f"{t}@v{v}" for t, v in report.outputs.items()))
    for line in decision_lines("features", report):
        print(line)
    return 0
