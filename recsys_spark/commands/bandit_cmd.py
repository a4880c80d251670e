"""`recsys bandit` (the promotion table) and `recsys ope` (off-policy evaluation)."""
from __future__ import annotations

import argparse
import datetime as dt
import functools

from recsys_spark.bandit.ope_data import OPE_POLICIES, OpeInputError
from recsys_spark.commands.session import add_run_date, config_from_args, run_context, stage_session
from recsys_spark.runs import summarize
from recsys_spark.settings.bandit import POLICIES
from recsys_spark.stage_runner import run_stage
from recsys_spark.textformat import render_table


def register(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    bandit = sub.add_parser("bandit", parents=[parent],
                            help="choose promotions per user -> bandit_arm_stats, user_promotions")
    add_run_date(bandit)
    bandit.add_argument("--policy", choices=POLICIES, default=None,
                        help="override bandit.policy from config")
    bandit.set_defaults(func=cmd_bandit)

    ope = sub.add_parser("ope", parents=[parent],
                         help="off-policy evaluation (IPS, SNIPS, DM, DR) -> ope_estimates")
    add_run_date(ope, required=False)
    ope.add_argument("--input", default=None, metavar="PATH",
                     help="logs: an Open Bandit Dataset CSV/folder, or a folder of raw JSONL events")
    ope.add_argument("--source", choices=("obd", "jsonl", "events"), required=True,
                     help="events = the warehouse's clean events table (no --input)")
    ope.add_argument("--policy", default=",".join(OPE_POLICIES), metavar="LIST",
                     help=f"comma-separated, from {'|'.join(OPE_POLICIES)} (default: all)")
    ope.add_argument("--dataset", default=None, help="name in ope_estimates (default from the path)")
    ope.set_defaults(func=cmd_ope)



def cmd_bandit(args: argparse.Namespace) -> int:
    from recsys_spark.bandit.stage import run_bandit

    config = config_from_args(args)
    with stage_session(config, "recsys-bandit") as s:
        ctx = run_context(config, args.run_date, "bandit")
        report = run_stage(s.spark, s.store, ctx, functools.partial(run_bandit, policy=args.policy))
    print(f"bandit {ctx.run_id}: {summarize(report.metrics)}")
    print(f"checks: {summarize(report.quality)}")
    return 0


def cmd_ope(args: argparse.Namespace) -> int:
    from recsys_spark.bandit.ope_run import run_ope
    from recsys_spark.simulate.evaluation import policy_truth

    policies = [p.strip() for p in args.policy.split(",") if p.strip()]
    unknown = [p for p in policies if p not in OPE_POLICIES]
    if unknown or not policies:
        raise OpeInputError(f"--policy {args.policy!r}: choose from {', '.join(OPE_POLICIES)}")
    config = config_from_args(args)
    run_date = args.run_date or dt.datetime.now(dt.timezone.utc).date()
    with stage_session(config, "recsys-ope") as s:
        ctx = run_context(config, run_date, "ope")
        truth = policy_truth(s.spark, args.source, args.input, config.landing.root,
                             config.bandit.reward_event)
        name, results, _ = run_ope(s.spark, s.store, ctx, args.source, args.input, policies,
                                   args.dataset, truth=truth)
    rows = [[policy, e.estimator, f"{e.estimate:#.7g}", f"[{e.ci_lower:.6g}, {e.ci_upper:.6g}]", e.n]
            for policy, estimates in results.items() for e in estimates]
    headers = ["policy", "estimator", "estimate", "ci_95", "n"]
    true_values = [e.true_value for estimates in results.values() for e in estimates]
    if any(v is not None for v in true_values):
        # Simulated logs: the policy's true value on the same samples, beside each estimate.
        headers.append("true_value")
        for row, value in zip(rows, true_values, strict=True):
            row.append("-" if value is None else f"{value:#.7g}")
    print(f"off-policy estimates on {name} (95% bootstrap CI, {config.bandit.bootstrap_replicates} "
          "replicates)")
    print(render_table(headers, rows))
    return 0
