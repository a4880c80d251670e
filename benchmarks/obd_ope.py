"""The project's Thompson policy evaluated off-policy on real logged bandit feedback: the Open
Bandit Dataset sample (ZOZOTOWN; Saito et al., NeurIPS 2021; Apache-2.0 sample from obp 0.5.7,
/work/shared/data/obd/README.md). Prints IPS / SNIPS / DM / DR with bootstrap 95% CIs.

    .venv/bin/python benchmarks/obd_ope.py [--obd /work/shared/data/obd] [--draws 20000]

For each campaign (men, women) and each direction (fit on the `random` policy's logs, evaluate
on `bts`'s, and the reverse):

* fit: per item a Beta posterior of the click rate from a prior with the fit log's mean click
  rate m and the bandit's default strength s = 20 (Beta(m s, (1 - m) s), as bandit/priors.py
  with a fixed strength and a model that knows only the mean) updated with the item's clicks
  and impressions (no user context: one segment, lift 1);
* the target: the bandit's Thompson rule (loop/truth_policies.py, the numpy mirror of
  bandit/policies.py: score = Beta draw, the best 3 items in slots 1-3, no promo-type rule);
  its probability of each (item, slot) is the share of ``--draws`` keyed draws;
* evaluate on the other policy's logs with their propensity_score as pscore (bandit/ope.py's
  estimators, one bootstrap block per impression); q_hat = the fitted posterior mean.

The on-policy click rate of each log is printed beside: the value of the policy that logged it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from recsys_spark.bandit.ope import bootstrap_estimates  # noqa: E402
from recsys_spark.loop.truth_policies import Candidates, choose  # noqa: E402
from recsys_spark.settings.bandit import BanditConfig  # noqa: E402

SLOTS = 3


def thompson_slot_probabilities(alpha: np.ndarray, beta: np.ndarray, draws: int, seed: int) -> np.ndarray:
    """(SLOTS, items): the share of draws in which Thompson puts each item in each slot."""
    n_items = len(alpha)
    cands = Candidates(valid=np.ones((draws, n_items), bool), lift=np.ones((draws, n_items)), alpha=alpha,
                       beta=beta, promo_type=np.arange(n_items), user_keys=np.arange(draws, dtype=np.int64),
                       pseudo_count=float((alpha + beta).sum()))
    config = BanditConfig(slots_per_user=SLOTS, one_per_promo_type=False, holdout_share=0.0)
    chosen = choose(cands, config, "thompson", seed, 0)
    return np.stack([np.bincount(chosen[:, s], minlength=n_items) / draws for s in range(SLOTS)])


def evaluate(fit: pd.DataFrame, logs: pd.DataFrame, n_items: int, draws: int, seed: int) -> list:
    clicks = np.bincount(fit["item_id"], weights=fit["click"], minlength=n_items)
    shown = np.bincount(fit["item_id"], minlength=n_items).astype(float)
    strength = BanditConfig().prior_strength
    mean = fit["click"].mean()
    alpha, beta = mean * strength + clicks, (1 - mean) * strength + shown - clicks
    probs = thompson_slot_probabilities(alpha, beta, draws, seed)
    q = alpha / (alpha + beta)
    item, slot = logs["item_id"].to_numpy(), logs["position"].to_numpy() - 1
    w = probs[slot, item] / logs["propensity_score"].to_numpy()
    r = logs["click"].to_numpy().astype(float)
    dm = probs[slot] @ q
    stats = np.stack([np.ones(len(w)), w * r, w, dm, dm + w * (r - q[item])], axis=1)
    return bootstrap_estimates(stats, seed, replicates=1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--obd", type=Path, default=Path("/work/shared/data/obd"))
    parser.add_argument("--draws", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print("campaign | fitted on | evaluated on (its CTR) | IPS [95% CI] | SNIPS | DM | DR [95% CI]")
    for campaign in ("men", "women"):
        logs = {p: pd.read_csv(args.obd / p / campaign / f"{campaign}.csv", index_col=0)
                for p in ("random", "bts")}
        n_items = len(pd.read_csv(args.obd / "random" / campaign / "item_context.csv"))
        for fit, target in (("random", "bts"), ("bts", "random")):
            est = {e.estimator: e for e in evaluate(logs[fit], logs[target], n_items, args.draws, args.seed)}
            ctr = logs[target]["click"].mean()
            print(f"{campaign} | {fit} | {target} ({ctr:.4f}) | "
                  f"{est['ips'].estimate:.4f} [{est['ips'].ci_lower:.4f}, {est['ips'].ci_upper:.4f}] | "
                  f"{est['snips'].estimate:.4f} | {est['dm'].estimate:.4f} | "
                  f"{est['dr'].estimate:.4f} [{est['dr'].ci_lower:.4f}, {est['dr'].ci_upper:.4f}]")


if __name__ == "__main__":
    main()
