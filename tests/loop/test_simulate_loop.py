"""The closed loop on the tiny world: per-day arithmetic against an independent pandas reader of
the ground truth, the policy comparison, independent copies, and identical reruns.

One loop (W warm-up days, N loop days, three policies) runs once for the module, in-process on
the session's Spark; the rerun test is last because it replaces a partition.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from recsys_spark.als.settings import AlsConfig
from recsys_spark.config import AppConfig
from recsys_spark.loop.options import LoopOptions
from recsys_spark.loop.plot import plot_cumulative_regret
from recsys_spark.loop.runner import LoopResult, run_loop
from recsys_spark.loop.workspace import LoopWorkspace
from recsys_spark.response.settings import ResponseConfig
from recsys_spark.schemas.loop import LOOP_RESULTS
from recsys_spark.simulate.settings import SimulateSection
from recsys_spark.tables import TableStore
from tests.conftest import make_config

pytestmark = pytest.mark.e2e

WARMUP_DAYS, LOOP_DAYS = 3, 2
POLICIES = ("thompson", "greedy", "random")
START = dt.date(2026, 11, 1)


def loop_config(root: Path) -> AppConfig:
    """The tiny world with the cheapest model settings that still fit on three days of logs."""
    return make_config(
        root, simulate=SimulateSection(preset="tiny", start_date=START.isoformat()),
        # three labelled days: train on the first, validate on the second; one grid point
        response=ResponseConfig(validation_days=1, test_days=0, reg_params=(0.1,),
                                elastic_net_params=(0.0,)),
        als=AlsConfig(rank=8, max_iter=5, num_user_blocks=2, num_item_blocks=2, evaluate=False))


@pytest.fixture(scope="module")
def loop_run(spark, tmp_path_factory) -> tuple[AppConfig, LoopResult, pd.DataFrame]:
    config = loop_config(tmp_path_factory.mktemp("loop"))
    result = run_loop(spark, config, LoopOptions(policies=POLICIES, days=LOOP_DAYS,
                                                 warmup_days=WARMUP_DAYS))
    return config, result, read_results(config)


def read_results(config: AppConfig) -> pd.DataFrame:
    """loop_results read with deltalake (no Spark), sorted."""
    table = DeltaTable(f"{config.warehouse.root}/loop_results")
    return (table.to_pandas()[[f.name for f in LOOP_RESULTS.fields]]
            .sort_values(["policy", "loop_day"]).reset_index(drop=True))


def reference_day(landing: Path, shown: dt.date) -> dict[str, float]:
    """The day's figures recomputed with pandas from the simulator's ground-truth files."""
    truth = landing / "_ground_truth"
    events = pq.read_table(truth / "true_events" / f"gen_date={shown}").to_pandas()
    events = events[~events["is_bot"] & events["user_id"].notna() & events["promotion_id"].notna()]
    shown_df = events.loc[events["event_type"] == "promo_impression", ["user_id", "promotion_id"]]
    response = pq.read_table(truth / "response").to_pandas()
    promos = pd.read_parquet(truth / "promotions.parquet")
    active = promos.loc[(promos["start_date"] <= shown.isoformat())
                        & (promos["end_date"] >= shown.isoformat()), "promotion_id"]
    expected = shown_df.merge(response, on=["user_id", "promotion_id"], how="left")["p_redeem"].sum()
    n_per_user = shown_df.groupby("user_id").size()
    oracle = 0.0
    candidates = response[response["promotion_id"].isin(active) & response["user_id"].isin(n_per_user.index)]
    for user, rows in candidates.groupby("user_id"):
        oracle += rows["p_redeem"].nlargest(int(n_per_user[user])).sum()
    redeems = events.loc[events["event_type"] == "promo_redeem", ["user_id", "promotion_id"]]
    realized = len(redeems.merge(shown_df.drop_duplicates(), on=["user_id", "promotion_id"]))
    return {"shown_users": len(n_per_user), "impressions": len(shown_df), "expected_reward": expected,
            "oracle_reward": oracle, "realized_rewards": realized}


def test_every_day_matches_the_ground_truth_and_the_sums_add_up(loop_run):
    config, result, results_df = loop_run
    workspace = LoopWorkspace.for_config(config)
    run_dates = [START + dt.timedelta(days=WARMUP_DAYS - 1 + i) for i in range(LOOP_DAYS)]
    assert result.run_dates == run_dates
    assert sorted(results_df["policy"].unique()) == sorted(POLICIES)
    for policy, rows in results_df.groupby("policy"):
        assert rows["loop_day"].tolist() == list(range(1, LOOP_DAYS + 1))
        assert rows["run_date"].tolist() == run_dates
        assert set(rows["run_id"]) == {f"{run_dates[0]:%Y%m%d}-{config.fingerprint()}"}
        landing = Path(workspace.folder(policy)) / "landing"
        for row in rows.itertuples():
            ref = reference_day(landing, row.run_date + dt.timedelta(days=1))
            assert (row.shown_users, row.impressions, row.realized_rewards) == (
                ref["shown_users"], ref["impressions"], ref["realized_rewards"]), policy
            assert row.expected_reward == pytest.approx(ref["expected_reward"], abs=1e-8)
            assert row.oracle_reward == pytest.approx(ref["oracle_reward"], abs=1e-8)
            assert 0 < row.expected_reward < row.oracle_reward
        assert rows["regret"].tolist() == pytest.approx(
            (rows["oracle_reward"] - rows["expected_reward"]).tolist(), abs=1e-8)
        assert rows["cumulative_reward"].tolist() == pytest.approx(
            rows["expected_reward"].cumsum().tolist(), abs=1e-8)
        assert rows["cumulative_regret"].tolist() == pytest.approx(
            rows["regret"].cumsum().tolist(), abs=1e-8)
        # What the library returned is what it wrote.
        returned = next(o for o in result.outcomes if o.policy == policy).rows
        assert [r["cumulative_regret"] for r in returned] == rows["cumulative_regret"].tolist()


def test_policy_comparison(loop_run):
    """What holds in this world, not what the issue hoped for (see the comment).

    Observed (seed 20261123, tiny, W=3, N=2; cumulative regret / cumulative oracle reward):
    thompson 65.91 / 162.82 (40.5%), greedy 64.68 / 160.49 (40.3%), random 65.25 / 164.14
    (39.8%). With bandit.user_weight=0 greedy was 65.58. Thompson does NOT beat greedy or random
    here: every tiny promotion has a budget of 100 redemptions, the bandit's budget allocation
    counts the expected redemptions of every user it assigns (about two thirds of whom do not
    visit the next day), and the one clearly best promotion (p0001, true mean P(redeem) 0.32 vs
    0.07-0.11 for the rest) is capped on the first loop day for every policy. Score-ordered
    policies give it to the users with the highest expected response, so fewer users fit under
    the cap than with random scores; that effect is as large as anything the policies learn in
    two days. The issue's claim (Thompson < greedy, random) is therefore not asserted.
    """
    _, _, results_df = loop_run
    last = results_df.groupby("policy").last()
    oracle = results_df.groupby("policy")["oracle_reward"].sum()
    share = last["cumulative_regret"] / oracle
    # Every policy leaves a large regret against the rule-free oracle (budgets, caps, one per
    # type, targeting, holdout are not in the oracle): observed 39.8-40.5%.
    assert share.between(0.30, 0.50).all(), share.to_dict()
    # The learned policies are not worse than random by more than 2% of the oracle reward
    # (observed: thompson +0.4%, greedy -0.3%).
    for policy in ("thompson", "greedy"):
        assert share[policy] <= share["random"] + 0.02, share.to_dict()


def test_copies_are_independent_and_invisible_to_recsys_tables(loop_run, spark):
    config, _, _ = loop_run
    store = TableStore(None, config.warehouse)
    assert store.list_tables() == ["loop_results", "pipeline_runs"]
    runs = DeltaTable(f"{config.warehouse.root}/pipeline_runs").to_pandas()
    assert sorted(runs.loc[runs["stage"] == "simulate_loop", "status"]) == ["succeeded"] * len(POLICIES)
    workspace = LoopWorkspace.for_config(config)
    for policy in POLICIES:
        root = Path(workspace.folder(policy)) / "warehouse"
        for name in ("events", "user_promotions", "promotion_scores"):
            uris = DeltaTable(str(root / name)).file_uris()
            assert uris and all(u.removeprefix("file://").startswith(f"{root / name}/") for u in uris)
        # Each policy's bandit wrote its own promotions for every loop day.
        up = DeltaTable(str(root / "user_promotions")).to_pandas()
        assert set(up["policy"]) == {policy}
        assert sorted(up["run_date"].unique()) == [START + dt.timedelta(days=WARMUP_DAYS - 1 + i)
                                                   for i in range(LOOP_DAYS)]


def test_plot_is_a_png(loop_run, tmp_path):
    _, result, _ = loop_run
    path = plot_cumulative_regret({o.policy: o.rows for o in result.outcomes}, tmp_path / "r.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rerun_gives_identical_results(loop_run, spark):
    config, _, first_df = loop_run
    # The warm-up is reused (its manifest matches); the policy's folder is copied afresh and
    # its N days run again: bandit draws, simulated responses and cleaning are all keyed.
    again = run_loop(spark, config, LoopOptions(policies=("thompson",), days=LOOP_DAYS,
                                                warmup_days=WARMUP_DAYS))
    assert again.warmup_reused
    pd.testing.assert_frame_equal(read_results(config), first_df)
