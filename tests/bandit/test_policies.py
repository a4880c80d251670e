"""Every bandit policy on one hand-computed case: scores, chosen slots, propensities.

One user's candidates (two of type t1, one each of t2 and t3; 2 slots, one promotion per type),
chosen so that greedy, UCB1 and Bayes-UCB choose three different pairs:

| promotion | type | lift | alpha | beta | n = alpha + beta | greedy = lift x mean | UCB1 | Bayes-UCB q .9 |
|---|---|---|---|---|---|---|---|---|
| pa | t1 | 1.0 | 4   | 16  | 20 | 0.200 | 0.5026 | 0.3186 |
| pb | t1 | 1.0 | 0.6 | 4.4 | 5  | 0.120 | 0.7253 | 0.3096 |
| pc | t2 | 1.6 | 1   | 9   | 10 | 0.160 | 0.5880 | 0.3612 |
| pd | t3 | 0.9 | 1   | 3   | 4  | 0.225 | 0.9017 | 0.4823 |

UCB1 = greedy + 0.5 sqrt(2 ln 39 / n) (39 = the context's pseudo-count, the sum of n);
Bayes-UCB = lift x BetaPPF(0.9; alpha, beta). So greedy shows (pd, pa), UCB1 (pd, pb) and
Bayes-UCB (pd, pc). A second user (h2) has pc alone: one slot filled, with certainty.

The randomized policies run on a crowd of 2,000 users with h1's candidates (each user has its
own keyed draws), so the share of users given (promotion, slot) estimates the policy's true slot
probability: random 1/(n_type x n_types) = 1/6 for pa and pb, 1/3 for pc and pd in both slots;
epsilon-greedy 0.8 x [greedy's slot] + 0.2 x random; Thompson a numpy Monte Carlo of 10^6
independent draws. Binomial sd of a share over 1,000 users <= 0.0159; tolerance 0.05 (3.2 sd).
The deterministic policies run on h1 and h2 alone (their choice does not vary by user).
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from chispa import assert_approx_df_equality
from pyspark.sql import functions as F
from scipy.stats import beta as beta_dist

from recsys_spark.bandit.choose import choose_promotions
from recsys_spark.bandit.policies import with_policy_scores
from recsys_spark.bandit.propensity import slot_probabilities
from recsys_spark.settings.bandit import BanditConfig

pytestmark = pytest.mark.unit

RUN_DATE = dt.date(2026, 11, 20)
SEED = 20261120
CONFIG = BanditConfig(slots_per_user=2, one_per_promo_type=True, ucb_c=0.5, ucb_quantile=0.9,
                      epsilon=0.2, holdout_share=0.0, propensity_draws=200)
# promotion -> (type, lift, alpha, beta)
ARMS = {"pa": ("t1", 1.0, 4.0, 16.0), "pb": ("t1", 1.0, 0.6, 4.4), "pc": ("t2", 1.6, 1.0, 9.0),
        "pd": ("t3", 0.9, 1.0, 3.0)}
PSEUDO_COUNT = 39.0
CROWD = [f"c{i:04d}" for i in range(1000)]
HAND_USERS = ["h1", *CROWD]        # every user with all four candidates
OUTPUT = ["user_id", "rank", "promotion_id", "policy", "score", "expected_response", "propensity",
          "is_exploration", "is_holdout"]
TOLERANCE = 0.05


def _greedy(p: str) -> float:
    _, lift, a, b = ARMS[p]
    return lift * a / (a + b)


def _ucb1(p: str) -> float:
    _, _, a, b = ARMS[p]
    return float(_greedy(p) + 0.5 * np.sqrt(2 * np.log(PSEUDO_COUNT) / (a + b)))


def _bayes_ucb(p: str) -> float:
    _, lift, a, b = ARMS[p]
    return lift * float(beta_dist.ppf(0.9, a, b))


def _thompson_reference(draws: int = 1_000_000) -> dict[tuple[str, int], float]:
    """P(promotion in slot) of Thompson sampling on h1's candidates, by numpy Monte Carlo."""
    rng = np.random.default_rng(5)
    names = sorted(ARMS)
    lift = np.array([ARMS[p][1] for p in names])
    theta = rng.beta([ARMS[p][2] for p in names], [ARMS[p][3] for p in names], (draws, 4)) * lift
    # type winners: t1 = the better of pa/pb (ties are measure zero), then pc, pd
    winner = np.stack([np.where(theta[:, 0] >= theta[:, 1], 0, 1), np.full(draws, 2), np.full(draws, 3)], 1)
    order = np.argsort(-np.take_along_axis(theta, winner, 1), axis=1)
    ranked = np.take_along_axis(winner, order, 1)
    return {(p, slot): float(np.mean(ranked[:, slot - 1] == i))
            for i, p in enumerate(names) for slot in (1, 2)}


RANDOM = {(p, s): (1 / 6 if ARMS[p][0] == "t1" else 1 / 3) for p in ARMS for s in (1, 2)}
GREEDY_SLOTS = {("pd", 1): 1.0, ("pa", 2): 1.0}
GREEDY_PICKS = {p for p, _ in GREEDY_SLOTS}
EPSILON = {k: 0.8 * GREEDY_SLOTS.get(k, 0.0) + 0.2 * v for k, v in RANDOM.items()}


@pytest.fixture(scope="module")
def candidates(spark):
    rows = [(u, p, t, lift, a, b) for u in HAND_USERS for p, (t, lift, a, b) in ARMS.items()]
    rows.append(("h2", "pc", *ARMS["pc"]))
    df = (spark.createDataFrame(rows, "user_id string, promotion_id string, promo_type string, "
                                      "lift double, alpha double, beta double")
          .withColumn("posterior_mean", F.col("alpha") / (F.col("alpha") + F.col("beta")))
          .withColumn("expected_response", F.least(F.col("lift") * F.col("posterior_mean"), F.lit(1.0)))
          .withColumn("expected_redemptions", F.col("expected_response"))
          .withColumn("context_pseudo_count", F.lit(PSEUDO_COUNT))
          .withColumn("remaining_budget", F.lit(None).cast("double"))).cache()
    yield df
    df.unpersist()


def _choose(spark, candidates_df, policy: str):
    users_df = candidates_df.select("user_id").distinct()
    return choose_promotions(spark, candidates_df, users_df, CONFIG, policy, seed=SEED, holdout_seed=1,
                             run_date=RUN_DATE).select(*OUTPUT).cache()


def _expected_df(spark, policy: str, picks: list[str], h2_exploring: bool, score):
    rows = []
    for user in ["h1"]:
        rows += [(user, slot, p, policy, score(p), _greedy(p), 1.0, p not in GREEDY_PICKS, False)
                 for slot, p in enumerate(picks, start=1)]
    rows.append(("h2", 1, "pc", policy, score("pc"), _greedy("pc"), 1.0, h2_exploring, False))
    return spark.createDataFrame(rows, "user_id string, rank int, promotion_id string, policy string, "
                                       "score double, expected_response double, propensity double, "
                                       "is_exploration boolean, is_holdout boolean")


@pytest.mark.parametrize(("policy", "picks", "score"), [
    ("greedy", ["pd", "pa"], _greedy),
    ("ucb1", ["pd", "pb"], _ucb1),
    ("bayes_ucb", ["pd", "pc"], _bayes_ucb),
])
def test_deterministic_policies_choose_by_hand(spark, candidates, policy, picks, score):
    hand_df = candidates.filter(F.col("user_id").isin("h1", "h2"))
    got_df = _choose(spark, hand_df, policy)
    # is_exploration (ucb): greedy would not show the promotion at all; greedy never explores.
    expected_df = _expected_df(spark, policy, picks, h2_exploring=False, score=score)
    if policy == "greedy":
        expected_df = expected_df.withColumn("is_exploration", F.lit(False))
    # Bayes-UCB's quantile interpolates scipy's tables (error < 1e-5).
    assert_approx_df_equality(got_df, expected_df, precision=1e-5, ignore_row_order=True,
                              ignore_nullable=True)
    _assert_slot_sums(spark, hand_df, got_df, policy, users=["h1"])
    got_df.unpersist()


def _shares(rows, users: list[str]) -> dict[tuple[str, int], float]:
    crowd = set(users)
    picked = [(r["promotion_id"], r["rank"]) for r in rows if r["user_id"] in crowd]
    return {k: picked.count(k) / len(crowd) for k in set(picked)}


def _assert_common(rows, policy: str) -> None:
    by_user: dict[str, list] = {}
    for r in rows:
        by_user.setdefault(r["user_id"], []).append(r)
    assert set(by_user) == {"h1", "h2", *CROWD}
    for user, mine in by_user.items():
        mine.sort(key=lambda r: r["rank"])
        assert [r["rank"] for r in mine] == ([1] if user == "h2" else [1, 2]), user
        assert len({ARMS[r["promotion_id"]][0] for r in mine}) == len(mine), "one per promo type"
        assert [r["score"] for r in mine] == sorted((r["score"] for r in mine), reverse=True)
        assert all(r["policy"] == policy and not r["is_holdout"] for r in mine)
        assert all(r["expected_response"] == pytest.approx(_greedy(r["promotion_id"])) for r in mine)
    # h2's only candidate is shown with certainty by every policy.
    assert by_user["h2"][0]["propensity"] == pytest.approx(1.0)


def test_random_policy_shares_and_propensities(spark, candidates):
    got_df = _choose(spark, candidates, "random")
    rows = got_df.collect()
    _assert_common(rows, "random")
    for r in rows:
        assert 0.0 < r["score"] < 1.0 and r["is_exploration"]
        if r["user_id"] != "h2":
            assert r["propensity"] == pytest.approx(RANDOM[(r["promotion_id"], r["rank"])], abs=1e-12)
    shares = _shares(rows, CROWD)
    for key, p in RANDOM.items():
        assert shares.get(key, 0.0) == pytest.approx(p, abs=TOLERANCE), (key, shares)
    _assert_slot_sums(spark, candidates, got_df, "random")
    got_df.unpersist()


def test_epsilon_greedy_shares_and_propensities(spark, candidates):
    got_df = _choose(spark, candidates, "epsilon_greedy")
    rows = got_df.collect()
    _assert_common(rows, "epsilon_greedy")
    explorers = {r["user_id"] for r in rows if r["is_exploration"]}
    # The explore coin is one per user: all of a user's rows agree.
    assert all(r["is_exploration"] == (r["user_id"] in explorers) for r in rows)
    assert len(explorers & set(CROWD)) / len(CROWD) == pytest.approx(CONFIG.epsilon, abs=0.03)
    for r in rows:
        if r["user_id"] == "h2":
            continue
        assert r["propensity"] == pytest.approx(EPSILON[(r["promotion_id"], r["rank"])], abs=1e-12)
        if r["user_id"] not in explorers:
            # Exploiting users get greedy's choice and greedy's score.
            assert GREEDY_SLOTS.get((r["promotion_id"], r["rank"])) == 1.0
            assert r["score"] == pytest.approx(_greedy(r["promotion_id"]), abs=1e-12)
    shares = _shares(rows, CROWD)
    for key, p in EPSILON.items():
        assert shares.get(key, 0.0) == pytest.approx(p, abs=TOLERANCE), (key, shares)
    _assert_slot_sums(spark, candidates, got_df, "epsilon_greedy")
    got_df.unpersist()


def test_thompson_shares_and_propensities_match_the_exact_slot_probabilities(spark, candidates):
    got_df = _choose(spark, candidates, "thompson")
    rows = got_df.collect()
    _assert_common(rows, "thompson")
    reference = _thompson_reference()
    shares = _shares(rows, CROWD)
    for key, p in reference.items():
        assert shares.get(key, 0.0) == pytest.approx(p, abs=TOLERANCE), (key, shares, reference)
    floor = 1 / (2 * CONFIG.propensity_draws)
    mean_propensity: dict[tuple[str, int], list[float]] = {}
    for r in rows:
        assert floor <= r["propensity"] <= 1.0
        # the live score is lift x a Beta draw: below the lift
        assert 0.0 < r["score"] < ARMS[r["promotion_id"]][1]
        if r["user_id"] != "h2":
            # exploration: a promotion greedy would not show this user at all
            assert r["is_exploration"] == (r["promotion_id"] not in GREEDY_PICKS)
            mean_propensity.setdefault((r["promotion_id"], r["rank"]), []).append(r["propensity"])
    # Each user's propensity is a K = 200 draw Monte Carlo estimate (sd <= 0.035); averaged over
    # the users shown a pair it is a tight estimate of the exact probability.
    for key, values in mean_propensity.items():
        assert np.mean(values) == pytest.approx(reference[key], abs=0.015), (key, reference[key])
    _assert_slot_sums(spark, candidates, got_df, "thompson")
    got_df.unpersist()


def _assert_slot_sums(spark, candidates_df, got_df, policy: str, users: list[str] = HAND_USERS) -> None:
    """The policy's whole slot distribution sums to 1 in every slot a user's pool can fill, and
    the chosen rows' propensities are its entries (thompson: before the 1/(2K) floor)."""
    pool_df = with_policy_scores(candidates_df, CONFIG, SEED, RUN_DATE.isoformat(), policy)
    chosen_df = got_df.select("user_id", "promotion_id", F.col("rank").alias("slot"), "propensity")
    dist_df = slot_probabilities(pool_df, chosen_df, CONFIG, policy, SEED, RUN_DATE.isoformat()).cache()
    sums = {(r["user_id"], r["slot"]): r["total"]
            for r in dist_df.groupBy("user_id", "slot").agg(F.sum("propensity").alias("total")).collect()}
    expected_slots = {(u, s) for u in users for s in (1, 2)} | {("h2", 1)}
    assert set(sums) == expected_slots
    assert max(abs(v - 1.0) for v in sums.values()) < 1e-9, policy
    floored = F.greatest(F.col("p_dist"), F.lit(1 / (2 * CONFIG.propensity_draws)))
    mismatched = (chosen_df.join(dist_df.withColumnRenamed("propensity", "p_dist"),
                                 on=["user_id", "promotion_id", "slot"], how="left")
                  .filter(F.coalesce(F.abs(floored - F.col("propensity")), F.lit(1.0)) > 1e-12).count())
    assert mismatched == 0, policy
    dist_df.unpersist()
