"""A closed loop with budgets that bind: realized spend per promotion against its budget.

    .venv/bin/python benchmarks/budget_loop.py                       # tiny, thompson, 14 days, x1.5
    .venv/bin/python benchmarks/budget_loop.py --root /tmp/bl --measure-only   # re-read a loop

The tiny world (seed 20261123, the suite's pipeline settings) with a 7-day warm-up of the
simulator's uniform-random promotions, then ``--days`` loop days of one policy. Budgets are the
tiny floor of 100 redemptions x ``--budget-scale``. At x1.5 (150) no budget runs out in the
warm-up (the most redeemed promotion, p0001, spends ~135 there) and the four promotions running
through the loop have 15-120 redemptions left against ~30 a day of demand, so budgets run out
during the loop (two of them in the recorded run, docs/simulate_loop.md): the bandit must cut
them, and the shop refuses what it plans past them.

Prints, from the policy's ground truth (recsys_spark/loop/budget_spend.py), per promotion: the
budget, the warm-up's spend, the loop's accepted and refused redemptions, the spend, the
overspend, the shown day the budget ran out and the impressions shown after it; then per run
date the bandit's slots per promotion (user_promotions) beside the spend the bandit could see
(promo_redeem events up to the run date) and the shop's true spend by then. Asserts nothing.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyspark.sql import functions as F  # noqa: E402

from recsys_spark.commands.session import stage_session  # noqa: E402
from recsys_spark.config import AppConfig, load_config  # noqa: E402
from recsys_spark.loop.budget_spend import SPEND_COLUMNS, loop_budget_spend  # noqa: E402
from recsys_spark.loop.options import LoopOptions  # noqa: E402
from recsys_spark.loop.runner import loop_dates, run_loop  # noqa: E402
from recsys_spark.loop.workspace import LoopWorkspace  # noqa: E402
from recsys_spark.simulate.truth import read_truth  # noqa: E402
from recsys_spark.tables import TableStore  # noqa: E402
from recsys_spark.textformat import render_table  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WARMUP_DAYS = 7


def config_for(root: Path, scale: float) -> AppConfig:
    return load_config(str(REPO / "conf" / "local.yaml"), [
        f"warehouse.root={root / 'warehouse'}", f"landing.root={root / 'landing'}",
        "spark.master=local[2]", "spark.shuffle_partitions=2",
        # the suite's tiny-run settings: little labelled history, one grid point
        "response.validation_days=1", "response.test_days=1", "response.reg_params=[0.1]",
        "response.elastic_net_params=[0.0]", f"simulate.promo_budget_scale={scale}"])


def bandit_days(spark, config: AppConfig, policy: str, run_dates: list[dt.date]) -> list[list[object]]:
    """Per run date and promotion: slots the bandit assigned, the spend it could see (events up
    to the run date) and the shop's accepted spend generated up to the run date."""
    pconfig = LoopWorkspace.for_config(config).config_for(config, policy)
    store = TableStore(spark, pconfig.warehouse)
    slots = {(r["run_date"], r["promotion_id"]): r["n"] for r in (
        store.read("user_promotions").filter(F.col("promotion_id").isNotNull())
        .groupBy("run_date", "promotion_id").agg(F.count(F.lit(1)).alias("n")).collect())}
    redeems_df = store.read("events").filter(F.col("event_type") == "promo_redeem")
    truth_df = (read_truth(spark, pconfig.landing.root, "true_events")
                .filter(F.col("event_type") == "promo_redeem"))
    rows = []
    for day in run_dates:
        seen = {r["promotion_id"]: r["n"] for r in redeems_df.filter(F.col("event_date") <= F.lit(day))
                .groupBy("promotion_id").agg(F.count(F.lit(1)).alias("n")).collect()}
        true = {r["promotion_id"]: r["n"] for r in truth_df.filter(F.col("gen_date") <= F.lit(day))
                .groupBy("promotion_id").agg(F.count(F.lit(1)).alias("n")).collect()}
        for promo in sorted(set(seen) | set(true) | {p for d, p in slots if d == day}):
            rows.append([day, promo, slots.get((day, promo), 0), seen.get(promo, 0), true.get(promo, 0)])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default="/tmp/recsys-budget-loop", help="warehouse/landing folder")
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--policy", default="thompson")
    parser.add_argument("--budget-scale", type=float, default=1.5)
    parser.add_argument("--measure-only", action="store_true", help="measure an existing loop")
    args = parser.parse_args(argv)
    root = Path(args.root)
    config = config_for(root, args.budget_scale)
    options = LoopOptions(policies=(args.policy,), days=args.days, warmup_days=WARMUP_DAYS, preset="tiny")
    _, run_dates = loop_dates(config, options)
    with stage_session(config, "budget-loop") as s:
        if not args.measure_only:
            began = time.time()
            result = run_loop(s.spark, config, options,
                              lambda message: print(message, file=sys.stderr, flush=True))
            last = result.outcomes[0].last
            print(f"loop {args.policy}: {args.days} days from {run_dates[0]} in "
                  f"{time.time() - began:.0f} s; cumulative reward {last['cumulative_reward']:.2f}, "
                  f"regret {last['cumulative_regret']:.2f}")
        landing = LoopWorkspace.for_config(config).config_for(config, args.policy).landing.root
        rows = [[r[c] for c in SPEND_COLUMNS]
                for r in loop_budget_spend(s.spark, landing, run_dates).orderBy("promotion_id").collect()]
        print(f"\nbudget x{args.budget_scale}, shown days {run_dates[0] + dt.timedelta(days=1)}.."
              f"{run_dates[-1] + dt.timedelta(days=1)}:")
        print(render_table(SPEND_COLUMNS, rows))
        print(f"max overspend {max(r[6] for r in rows)}; refused in the loop {sum(r[4] for r in rows)}; "
              f"exhausted during the loop {sum(r[7] is not None for r in rows)} of {len(rows)}")
        print("\nper run date: the bandit's slots, the spend it saw (events <= run date), the shop's "
              "true spend (generated <= run date)")
        print(render_table(["run_date", "promotion_id", "slots", "seen_spend", "true_spend"],
                           bandit_days(s.spark, config, args.policy, run_dates)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
