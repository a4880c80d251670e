"""`recsys clean --run-date D [--source jsonl|rees46|obd] [--input PATH]`: the clean stage."""
from __future__ import annotations

import argparse

from recsys_spark.commands.session import add_run_date, config_from_args, run_context, stage_session
from recsys_spark.settings.clean import SOURCES


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    clean = sub.add_parser("clean", parents=[parent],
                           help="raw logs -> events, events_quarantine, items/users/promotions")
    add_run_date(clean)
    clean.add_argument("--source", choices=SOURCES, default=None,
                       help="input adapter (default: clean.source from config)")
    clean.add_argument("--input", default=None, metavar="PATH",
                       help="raw file or folder (default: <landing>/<source folder>/date=D/)")
    clean.add_argument("--allow-empty", action="store_true",
                       help="accept a day without input records (default: exit 3, nothing "
                            "committed)")
    clean.set_defaults(func=cmd_clean)


def cmd_clean(args: argparse.Namespace) -> int:
    from recsys_spark.clean.privacy import resolve_hmac_key
    from recsys_spark.clean.stage import make_clean_stage
    from recsys_spark.stage_runner import run_stage

    config = config_from_args(args)
    resolve_hmac_key(config.clean.privacy)  # refuse before Spark starts
    with stage_session(config, "recsys-clean") as s:
        report = run_stage(s.spark, s.store, run_context(config, args.run_date, "clean"),
                           make_clean_stage(args.source, args.input, args.allow_empty))
    m = report.metrics
    if report.notes.get("empty_input") == "true":
        print(f"clean {args.run_date}: no input records ({report.notes['input']}); empty day "
              "accepted (--allow-empty), nothing committed but its pipeline_runs row")
        return 0
    print(f"clean {args.run_date}: {int(m['records_in'])} records -> {int(m['clean'])} clean, "
          f"{int(m['quarantined'])} quarantined, {int(m['duplicates'])} duplicates dropped "
          f"({int(m['late_accepted'])} late accepted, {int(m['bot_users'])} bot users); "
          f"events partitions {report.notes.get('touched_event_dates') or '-'}")
    return 0
