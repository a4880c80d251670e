"""`recsys simulate-loop`: the closed loop per bandit policy -> loop_results, a table and a plot."""
from __future__ import annotations

import argparse
import sys

from recsys_spark.commands.session import config_from_args, stage_session
from recsys_spark.loop.options import (
    DEFAULT_POLICIES,
    LOOP_POLICIES,
    LoopOptions,
    parse_policies,
    parse_warmup_from,
)
from recsys_spark.textformat import render_table

PRESETS = ("tiny", "demo", "bench-1m", "bench-10m")
HEADERS = ["policy", "days", "cum_expected_reward", "cum_oracle_reward", "cum_regret", "regret_share",
           "realized_redeems"]


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    loop = sub.add_parser("simulate-loop", parents=[parent],
                          help="closed loop: bandit -> simulator -> clean per day; regret per policy")
    loop.add_argument("--days", type=int, required=True, help="loop days N (>= 1)")
    loop.add_argument("--policy", default=",".join(DEFAULT_POLICIES), metavar="LIST",
                      help=f"comma-separated, from {'|'.join(LOOP_POLICIES)} "
                           f"(default: {','.join(DEFAULT_POLICIES)}; ucb = ucb1)")
    loop.add_argument("--warmup-days", type=int, default=None,
                      help="days of organic logs the pipeline is fitted on first "
                           "(default: simulate.days, as `recsys run`)")
    loop.add_argument("--preset", choices=PRESETS, default=None,
                      help="simulator preset (default: simulate.preset)")
    loop.add_argument("--retrain-every", type=int, default=0, metavar="K",
                      help="re-fit features/similarity/als/response every K loop days (0 = never)")
    loop.add_argument("--plot", default=None, metavar="PATH", help="write the cumulative regret PNG here")
    loop.add_argument("--warmup-from", default=None, metavar="WAREHOUSE,LANDING",
                      help="start from a finished `recsys run` of the warm-up days (copied, not changed)")
    loop.add_argument("--rebuild-warmup", action="store_true",
                      help="simulate and fit the warm-up again even when a matching one exists")
    loop.set_defaults(func=cmd_simulate_loop)


def options_from_args(args: argparse.Namespace) -> LoopOptions:
    """Validated options; raises LoopInputError (exit 2) before Spark starts."""
    return LoopOptions(policies=parse_policies(args.policy), days=args.days,
                       warmup_days=args.warmup_days, preset=args.preset,
                       retrain_every=args.retrain_every, rebuild_warmup=args.rebuild_warmup,
                       warmup_from=parse_warmup_from(args.warmup_from))


def cmd_simulate_loop(args: argparse.Namespace) -> int:
    from recsys_spark.loop.plot import plot_cumulative_regret
    from recsys_spark.loop.runner import run_loop

    options = options_from_args(args)
    config = config_from_args(args)

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    with stage_session(config, "recsys-simulate-loop") as s:
        result = run_loop(s.spark, config, options, progress)
    print(f"closed loop {result.run_id}: {len(result.run_dates)} days from {result.run_dates[0]} "
          f"(warm-up {'reused' if result.warmup_reused else 'built'})")
    print(render_table(HEADERS, [summary_row(o.policy, o.rows) for o in result.outcomes]))
    if args.plot:
        path = plot_cumulative_regret({o.policy: o.rows for o in result.outcomes}, args.plot)
        print(f"plot: {path}")
    return 0


def summary_row(policy: str, rows: list[dict]) -> list[object]:
    """One line of the printed table from a policy's `loop_results` rows."""
    last = rows[-1]
    oracle = sum(float(r["oracle_reward"]) for r in rows)
    share = last["cumulative_regret"] / oracle if oracle > 0 else 0.0
    return [policy, len(rows), f"{last['cumulative_reward']:.4f}", f"{oracle:.4f}",
            f"{last['cumulative_regret']:.4f}", f"{share:.1%}",
            sum(int(r["realized_rewards"]) for r in rows)]
