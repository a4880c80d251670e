"""`recsys simulate`: write a seeded shop's raw logs; `recsys simulate respond`: the closed loop.

    recsys simulate --preset demo --days 7 --landing PATH [--seed N] [--start-date YYYY-MM-DD]
    recsys simulate respond --run-date D [--landing PATH]

`respond` reads the warehouse's `user_promotions` rows for D and writes day D+1's events,
including each visiting user's responses to the promotions shown, drawn from the truth.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt

from recsys_spark.commands.session import add_run_date, config_from_args, stage_session
from recsys_spark.config import AppConfig
from recsys_spark.errors import ConfigError
from recsys_spark.settings.simulate import PRESETS

USER_PROMOTIONS_TABLE = "user_promotions"


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    sim = sub.add_parser("simulate", parents=[parent],
                         help="generate simulated raw logs (or `simulate respond` for the closed loop)")
    sim.add_argument("--preset", choices=list(PRESETS), default=None,
                     help="world size (default: simulate.preset)")
    sim.add_argument("--days", type=int, default=None, help="days to generate (default: simulate.days)")
    sim.add_argument("--start-date", default=None, metavar="YYYY-MM-DD",
                     help="first day (default: simulate.start_date)")
    _common(sim)
    sim.set_defaults(func=cmd_generate)
    actions = sim.add_subparsers(dest="sim_action", metavar="ACTION")
    resp = actions.add_parser("respond", parents=[parent],
                              help="write day D+1 in response to user_promotions of day D")
    add_run_date(resp)
    _common(resp)
    resp.set_defaults(func=cmd_respond)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--landing", default=None, metavar="PATH",
                        help="landing root (default: landing.root)")
    parser.add_argument("--seed", type=int, default=None, help="world seed (default: run.seed)")


def _config(args: argparse.Namespace) -> AppConfig:
    config = config_from_args(args)
    if args.landing:
        config = dataclasses.replace(config, landing=dataclasses.replace(config.landing,
                                                                         root=args.landing))
    return config


def cmd_generate(args: argparse.Namespace) -> int:
    from recsys_spark.simulate.api import generate

    config = _config(args)
    try:
        sim_config = config.simulate.resolve(args.preset)
    except ValueError as exc:
        raise ConfigError(f"simulate: {exc}") from None
    days = args.days if args.days is not None else config.simulate.days
    if days < 1:
        raise ConfigError(f"--days {days}: must be >= 1")
    start_text = args.start_date or config.simulate.start_date
    try:
        start = dt.date.fromisoformat(start_text)
    except ValueError:
        raise ConfigError(f"--start-date {start_text!r}: expected YYYY-MM-DD") from None
    seed = args.seed if args.seed is not None else config.run.seed
    with stage_session(config, "recsys-simulate") as s:
        summary = generate(s.spark, sim_config, config.landing.root, start, days, seed)
    print(f"simulated the {sim_config.preset} shop into {summary.landing_root}: "
          f"{summary.dates[0]}..{summary.dates[-1]}, {summary.events:,} events, "
          f"{summary.lines:,} lines in {summary.files} files")
    print("defects: " + ", ".join(f"{k}={v}" for k, v in summary.defects.items()))
    return 0


def cmd_respond(args: argparse.Namespace) -> int:
    from recsys_spark.settings.simulate import SimulatorConfig
    from recsys_spark.simulate.api import respond
    from recsys_spark.simulate.truth import read_world

    config = _config(args)
    world = read_world(config.landing.root)  # fails with one clear line before Spark starts
    seed = args.seed if args.seed is not None else world["seed"]
    sim_config = SimulatorConfig.from_dict(world["config"])
    with stage_session(config, "recsys-simulate-respond") as s:
        if not s.store.exists(USER_PROMOTIONS_TABLE):
            raise ConfigError(f"table {USER_PROMOTIONS_TABLE!r} not found under {s.store.root} "
                              "(run the bandit stage first)")
        up_df = s.store.read(USER_PROMOTIONS_TABLE)
        summary = respond(s.spark, sim_config, config.landing.root, up_df, args.run_date, seed)
    print(f"responded to user_promotions of {args.run_date}: wrote {summary.dates[0]} with "
          f"{summary.impressions:,} impressions, {summary.events:,} events "
          f"({summary.plan_rows_ignored} rows ignored: unknown user or promotion)")
    return 0
