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

from recsys_spark.config import AppConfig, load_config
from recsys_spark.loop.options import LoopOptions
from recsys_spark.loop.plot import plot_cumulative_regret
from recsys_spark.loop.runner import LoopResult, run_loop
from recsys_spark.loop.workspace import LoopWorkspace
from recsys_spark.schemas.loop import LOOP_RESULTS
from recsys_spark.tables import TableStore
from tests.conftest import REPO_ROOT, TINY_DAYS, PipelineRun, pipeline_args

pytestmark = pytest.mark.e2e

LOOP_DAYS = 2
POLICIES = ("thompson", "greedy", "random")
START = dt.date(2026, 11, 1)


def loop_config(root: Path, pipeline: PipelineRun) -> AppConfig:
    """The settings of the tiny `recsys run` the loop starts from, with its own warehouse."""
    args = pipeline_args(pipeline.warehouse, pipeline.landing)
    overrides = [args[i + 1] for i, a in enumerate(args) if a == "--set"
                 and not args[i + 1].startswith(("warehouse.root=", "landing.root="))]
    return load_config(str(REPO_ROOT / "conf" / "local.yaml"), [
        *overrides, f"warehouse.root={root / 'warehouse'}", f"landing.root={root / 'landing'}",
        "spark.master=local[2]", f"simulate.start_date={START}"])


def loop_options(pipeline: PipelineRun, policies: tuple[str, ...] = POLICIES) -> LoopOptions:
    """The loop's warm-up is the tiny pipeline run (TINY_DAYS days), copied."""
    return LoopOptions(policies=policies, days=LOOP_DAYS, warmup_days=TINY_DAYS, preset="tiny",
                       warmup_from=(str(pipeline.warehouse), str(pipeline.landing)))


@pytest.fixture(scope="module")
def loop_run(spark, tmp_path_factory, tiny_pipeline: PipelineRun
             ) -> tuple[AppConfig, LoopResult, pd.DataFrame, PipelineRun]:
    assert tiny_pipeline.returncode == 0, tiny_pipeline.stderr[-3000:]
    config = loop_config(tmp_path_factory.mktemp("loop"), tiny_pipeline)
    result = run_loop(spark, config, loop_options(tiny_pipeline))
    return config, result, read_results(config), tiny_pipeline


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
    config, result, results_df, _ = loop_run
    workspace = LoopWorkspace.for_config(config)
    run_dates = [START + dt.timedelta(days=TINY_DAYS - 1 + i) for i in range(LOOP_DAYS)]
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
    """What holds in this world, not all the issue hoped for (docs/simulate_loop.md).

    Observed (seed 20261123, tiny, warm-up = the tiny pipeline's 7 days, N=2; cumulative regret /
    cumulative oracle reward): greedy 51.8%, thompson 53.3%, random 55.9% (with the priors put on
    the reward's scale; 51.9 / 53.0 / 55.9% before). The learned policies
    beat random; Thompson does NOT beat greedy: the one clearly best promotion (p0001, true mean
    P(redeem) 0.32 vs 0.07-0.15) spends its 100-redemption budget during the uniform warm-up,
    the rest lie within 0.07-0.11 of each other, and the response model's prior is unbiased per
    promotion, so exploration has little to find in two days. (With a 4-day warm-up: thompson
    45.0%, greedy 45.6%, random 43.0%.) The claim Thompson < greedy is therefore not asserted.
    """
    _, _, results_df, _ = loop_run
    last = results_df.groupby("policy").last()
    oracle = results_df.groupby("policy")["oracle_reward"].sum()
    share = last["cumulative_regret"] / oracle
    # Every policy leaves a large regret against the rule-free oracle (budgets, caps, one per
    # type, targeting, holdout are not in the oracle): observed 51.8-55.9%.
    assert share.between(0.45, 0.65).all(), share.to_dict()
    # Learning from the warm-up's feedback pays: both learned policies beat random.
    for policy in ("thompson", "greedy"):
        assert share[policy] < share["random"], share.to_dict()


def test_copies_are_independent_and_invisible_to_recsys_tables(loop_run, spark):
    config, _, _, _ = loop_run
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
        assert sorted(up["run_date"].unique()) == [START + dt.timedelta(days=TINY_DAYS - 1 + i)
                                                   for i in range(LOOP_DAYS)]
        # From loop day 2 the warm-up's model re-scored each run date (no retraining).
        scores = DeltaTable(str(root / "promotion_scores")).to_pandas()
        model_run = scores.loc[scores["run_date"] == START + dt.timedelta(days=TINY_DAYS - 1),
                               "model_run_id"].unique()
        for i in range(1, LOOP_DAYS):
            day = scores[scores["run_date"] == START + dt.timedelta(days=TINY_DAYS - 1 + i)]
            assert len(day) > 0 and list(day["model_run_id"].unique()) == list(model_run)


def test_plot_is_a_png(loop_run, tmp_path):
    _, result, _, _ = loop_run
    path = plot_cumulative_regret({o.policy: o.rows for o in result.outcomes}, tmp_path / "r.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rerun_gives_identical_results(loop_run, spark):
    config, _, first_df, pipeline = loop_run
    # The warm-up is copied again, the policy's folder afresh, and its N days run again: bandit
    # draws, simulated responses and cleaning are all keyed, so the partition is identical.
    again = run_loop(spark, config, loop_options(pipeline, ("thompson",)))
    assert again.warmup_reused
    pd.testing.assert_frame_equal(read_results(config), first_df)
