"""Every bandit policy in closed loop on many simulated worlds (numpy on the simulator's ground
truth, recsys_spark/loop/truth_loop.py): mean cumulative regret per policy with a 95% interval.

    .venv/bin/python benchmarks/bench_policy_worlds.py                    # seeds 1-30, 14 loop days
    .venv/bin/python benchmarks/bench_policy_worlds.py --seeds 1-40 --days 7 --bandit default

Worlds: the tiny preset with 10 promotions of hidden appeal (sd 1.0), five launching on days 7-8
(the loop's first days after a 7-day warm-up) and budgets the loop does not exhaust. Every seed
of the range is run (no seed picking). Bandit settings:

* ``no-accident`` (default): one slot, no personal lift, no frequency cap (nothing but the
  policy's own exploration shows a promotion greedy ranks low), prior strength 5;
* ``default``: the bandit's defaults (3 slots, personal lift, cap 3 in 7 days), no holdout.

Prints the per-policy table (docs/simulate_loop.md, "Many worlds") and, split by whether the
best promotion of the loop is a new one, the share of worlds each policy beats greedy.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from recsys_spark.loop.truth_loop import compare_policies, regret_table  # noqa: E402
from recsys_spark.settings.bandit import BanditConfig  # noqa: E402
from recsys_spark.settings.simulate import SimulatorConfig  # noqa: E402

POLICIES = ("thompson", "ucb1", "bayes_ucb", "epsilon_greedy", "greedy", "random")
WORLD = dict(n_promotions=10, promo_appeal_sd=1.0, launch_start_day=7, launch_span_days=2,
             promo_budget_scale=10)
BANDITS = {
    "no-accident": BanditConfig(slots_per_user=1, user_weight=0.0, frequency_cap_impressions=1000,
                                prior_strength=5.0, holdout_share=0.0),
    "default": BanditConfig(holdout_share=0.0),
}


def seed_range(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1-30", help="inclusive range, e.g. 1-30")
    parser.add_argument("--days", type=int, default=14, help="loop days")
    parser.add_argument("--warmup-days", type=int, default=7)
    parser.add_argument("--bandit", choices=sorted(BANDITS), default="no-accident")
    parser.add_argument("--csv", type=Path, help="also write the per-(seed, policy) results here")
    args = parser.parse_args()
    seeds = seed_range(args.seeds)
    start = time.perf_counter()
    results = compare_policies(SimulatorConfig.from_preset("tiny", **WORLD), seeds, BANDITS[args.bandit],
                               POLICIES, args.warmup_days, args.days)
    elapsed = time.perf_counter() - start
    if args.csv:
        results.to_csv(args.csv, index=False)
    print(f"{len(seeds)} worlds (seeds {args.seeds}), bandit {args.bandit}, {args.warmup_days} warm-up "
          f"+ {args.days} loop days, {elapsed:.0f} s")
    table = regret_table(results)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    wide = results.pivot(index="seed", columns="policy", values="cumulative_regret")
    new_best = results.groupby("seed")["best_is_new"].first()
    for label, mask in (("best promotion new", new_best), ("best promotion old", ~new_best)):
        below = (wide[mask].lt(wide[mask]["greedy"], axis=0)).mean()
        print(f"{label} ({int(mask.sum())} worlds): share of worlds below greedy "
              + ", ".join(f"{p} {below[p]:.2f}" for p in POLICIES if p != "greedy"))


if __name__ == "__main__":
    main()
