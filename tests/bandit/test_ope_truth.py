"""ope_estimates.true_value on simulated logs: hand numbers, a numpy reference, the uniform
policy's mean true p, and run_ope filling the column from a landing folder's ground truth."""
from __future__ import annotations

import datetime as dt
import gzip
import json

import numpy as np
import pytest
from pyspark.sql import functions as F

from recsys_spark.bandit.ope_data import LOGGED_COLUMNS, evaluation
from recsys_spark.bandit.ope_run import run_ope
from recsys_spark.runs import RunContext
from recsys_spark.settings.bandit import BanditConfig
from recsys_spark.simulate.evaluation import policy_truth
from recsys_spark.simulate.ope_truth import find_truth_root, true_policy_value
from recsys_spark.tables import TableStore
from tests.factories import make_config

T0 = dt.datetime(2026, 11, 10, 8, tzinfo=dt.timezone.utc)
ARMS = ("pa", "pb", "pc")
# (user, arm) -> (p_redeem, p_click)
TRUTH = {("u1", "pa"): (0.30, 0.50), ("u1", "pb"): (0.10, 0.20), ("u1", "pc"): (0.05, 0.30),
         ("u2", "pa"): (0.20, 0.25), ("u2", "pb"): (0.15, 0.35), ("u2", "pc"): (0.40, 0.60),
         ("u3", "pa"): (0.05, 0.15), ("u3", "pb"): (0.25, 0.45), ("u3", "pc"): (0.10, 0.40)}
# sample, user, arm, position, reward: the first 6 (by time) fit the policies, the last 6 are evaluated.
LOGS = [("s01", "u1", "pa", 1, 1), ("s02", "u2", "pa", 1, 1), ("s03", "u3", "pb", 2, 0),
        ("s04", "u1", "pc", 2, 0), ("s05", "u2", "pb", 1, 0), ("s06", "u3", "pc", 1, 1),
        ("s07", "u1", "pb", 1, 0), ("s08", "u2", "pc", 2, 1), ("s09", "u3", "pa", 1, 0),
        ("s10", "u1", "pa", 2, 1), ("s11", "u2", "pb", 2, 0), ("s12", "u3", "pc", 1, 0)]
EVAL = LOGS[6:]

# By hand (reward = promo_redeem):
#  uniform: mean over evaluated samples of the user's mean p over arms
#           = 2 * (0.45/3 + 0.75/3 + 0.40/3) / 6
UNIFORM = 2 * (0.45 / 3 + 0.75 / 3 + 0.40 / 3) / 6
#  logged: the true p of the logged actions = (0.10 + 0.40 + 0.05 + 0.30 + 0.15 + 0.10) / 6
LOGGED = 1.10 / 6
#  greedy: train posterior means with prior 3/6 and strength 20: pa 12/22 > pc 11/22 > pb 10/22,
#  so slot 1 = pa, slot 2 = pc: (u1 pa .30 + u2 pc .40 + u3 pa .05 + u1 pc .05 + u2 pc .40
#  + u3 pa .05) / 6
GREEDY = 1.25 / 6
GREEDY_CLICK = (0.50 + 0.60 + 0.15 + 0.30 + 0.60 + 0.15) / 6


def _truth_df(spark):
    return spark.createDataFrame([(u, a, r, c) for (u, a), (r, c) in TRUTH.items()],
                                 "user_id string, promotion_id string, p_redeem double, p_click double")


def _logged_df(spark):
    rows = [(s, T0 + dt.timedelta(hours=i), u, a, pos, float(r), 1 / 3)
            for i, (s, u, a, pos, r) in enumerate(LOGS)]
    return spark.createDataFrame(rows, "sample_id string, ts timestamp, context string, action string, "
                                       "position int, reward double, pscore double").select(*LOGGED_COLUMNS)


@pytest.mark.unit
def test_true_value_by_hand_and_against_numpy(spark):
    config = BanditConfig(reward_event="promo_redeem")
    logged_df = _logged_df(spark).cache()
    truth_df = _truth_df(spark)
    got, evaluated = {}, {}
    for policy in ("uniform", "logged", "greedy", "thompson"):
        parts = evaluated[policy] = evaluation(policy, logged_df, config, seed=5)
        got[policy] = true_policy_value(parts.samples_df, parts.dist_df, truth_df, "promo_redeem",
                                        logged=policy == "logged")
        if policy == "greedy":
            got["greedy_click"] = true_policy_value(parts.samples_df, parts.dist_df, truth_df,
                                                    "promo_click", logged=False)
        if policy == "thompson":
            # numpy reference of V = mean_i sum_a pi(a | s_i) p(x_i, a) on the policy's own pi.
            pi = np.zeros((3, len(ARMS)))
            for r in parts.dist_df.collect():
                pi[r["position"], ARMS.index(r["action"])] = r["prob"]
            p = np.array([[TRUTH[(u, a)][0] for a in ARMS] for _, u, _, _, _ in EVAL])
            slots = np.array([pos for _, _, _, pos, _ in EVAL])
            assert pi[1:].sum() > 0
            thompson_ref = float(np.mean(np.sum(pi[slots] * p, axis=1)))
    assert got["uniform"] == pytest.approx(UNIFORM, abs=1e-12)
    # The uniform policy's true value is the mean true p over arms (per evaluated user).
    p_all = np.array([[TRUTH[(u, a)][0] for a in ARMS] for _, u, _, _, _ in EVAL])
    assert got["uniform"] == pytest.approx(float(p_all.mean()), abs=1e-12)
    assert got["logged"] == pytest.approx(LOGGED, abs=1e-12)
    assert got["greedy"] == pytest.approx(GREEDY, abs=1e-12)
    assert got["greedy_click"] == pytest.approx(GREEDY_CLICK, abs=1e-12)
    assert got["thompson"] == pytest.approx(thompson_ref, abs=1e-12)
    # A user without truth makes the value unknown rather than a partial average.
    partial_df = _truth_df(spark).filter(F.col("user_id") != "u3")
    uniform = evaluated["uniform"]
    assert true_policy_value(uniform.samples_df, uniform.dist_df, partial_df, "promo_redeem",
                             logged=False) is None
    logged_df.unpersist()


def _write_landing(spark, root):
    """Raw JSONL events of LOGS (a redeem 1 h after each rewarded impression) and the truth."""
    lines = []
    for i, (s, u, a, pos, r) in enumerate(LOGS):
        when = T0 + dt.timedelta(hours=i)
        lines.append({"event_id": s, "event_time": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                      "event_type": "promo_impression", "user_id": u, "session_id": f"x{u}",
                      "promotion_id": a, "position": pos, "propensity": 1 / 3})
        if r:
            lines.append({"event_id": f"r{s}", "event_type": "promo_redeem", "user_id": u,
                          "session_id": f"x{u}", "promotion_id": a,
                          "event_time": (when + dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")})
    folder = root / "events" / "date=2026-11-10"
    folder.mkdir(parents=True)
    (folder / "part-20261110-00000.jsonl.gz").write_bytes(
        gzip.compress("\n".join(json.dumps(x) for x in lines).encode()))
    _truth_df(spark).write.parquet(str(root / "_ground_truth" / "response"))


@pytest.mark.stage
def test_run_ope_fills_true_value_on_simulated_logs(spark, tmp_path):
    config = make_config(tmp_path)
    landing = tmp_path / "landing"
    _write_landing(spark, landing)
    assert find_truth_root("jsonl", str(landing / "events"), None) == str(landing)
    assert find_truth_root("obd", str(landing / "events"), str(landing)) is None
    store = TableStore(spark, config.warehouse)
    ctx = RunContext(config, dt.date(2026, 11, 12), "ope")
    truth = policy_truth(spark, "jsonl", str(landing / "events"), None, config.bandit.reward_event)
    name, results, _ = run_ope(spark, store, ctx, "jsonl", str(landing / "events"),
                               ["uniform", "logged", "greedy"], dataset="sim", truth=truth)
    expected = {"uniform": UNIFORM, "logged": LOGGED, "greedy": GREEDY}
    assert name == "sim" and sorted(results) == sorted(expected)
    for policy, estimates in results.items():
        assert [e.true_value for e in estimates] == pytest.approx([expected[policy]] * 4, abs=1e-12)
    rows = store.read("ope_estimates").select("policy", "estimator", "true_value").collect()
    assert len(rows) == 12
    for r in rows:
        assert r["true_value"] == pytest.approx(expected[r["policy"]], abs=1e-12)
