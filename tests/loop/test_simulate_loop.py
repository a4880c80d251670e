"""The closed loop on a tiny world built for the policy comparison: per-day arithmetic against an
independent pandas reader of the ground truth, Thompson's regret below greedy's and random's,
independent copies, identical reruns, and starting from a finished `recsys run`.

One loop (its own warm-up of TINY_DAYS days, LOOP_DAYS loop days, three policies) runs once for the
module, in-process on the session's Spark; the rerun test is last because it replaces a partition.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from recsys_spark.config import AppConfig, load_config
from recsys_spark.loop.options import LoopInputError, LoopOptions
from recsys_spark.loop.plot import plot_cumulative_regret
from recsys_spark.loop.runner import LoopResult, import_warmup, loop_dates, run_loop
from recsys_spark.loop.workspace import WARMUP_DIR, LoopWorkspace, check_copied_tables
from recsys_spark.schemas.loop import LOOP_RESULTS
from recsys_spark.tables import TableStore
from tests.conftest import REPO_ROOT, TINY_DAYS, PipelineRun, pipeline_args

pytestmark = pytest.mark.e2e

LOOP_DAYS = 3
POLICIES = ("thompson", "greedy", "random")
START = dt.date(2026, 11, 1)
RUN_DATES = [START + dt.timedelta(days=TINY_DAYS - 1 + i) for i in range(LOOP_DAYS)]
NEW_PROMOTION = "p0004"

# A world where exploring pays (docs/simulate_loop.md, "A world built for the comparison"): four
# always-on promotions whose response the warm-up's uniform-random logs teach every policy, and
# one coupon launching on day 7 (loop day 2's run date) whose hidden appeal makes it the best by
# far (true mean P(redeem) 0.53 against 0.04-0.26), while its attributes make the model rate it
# far below the two best old promotions (prior 0.09 against posteriors 0.19 and 0.22).
WORLD = ["run.seed=130", "simulate.n_promotions=5", "simulate.promo_appeal_sd=1.0",
         "simulate.launch_start_day=7", "simulate.launch_span_days=1",
         # budgets that outlast the loop: with tiny's 100 redemptions a good promotion runs dry
         # within a day of being found, and every policy is left with the same rest
         "simulate.promo_budget_scale=10",
         # one slot: showing the new coupon costs the incumbent's slot
         "bandit.slots_per_user=1",
         # one greedy ranking per segment (no personal lift to vary it) and no frequency cap to
         # rotate it: nothing but exploration puts the coupon in front of users
         "bandit.user_weight=0", "bandit.frequency_cap_impressions=1000",
         # the model's prediction counts as 5 impressions, not 20: Thompson learns the coupon in
         # one day of exposure, so 3 loop days show the difference (4 with the default 20)
         "bandit.prior_strength=5"]


def config_of(args: list[str], extra: tuple[str, ...] = ()) -> AppConfig:
    """The AppConfig a `recsys` command with these arguments (plus ``extra`` sets) loads."""
    sets = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
    return load_config(str(REPO_ROOT / "conf" / "local.yaml"), [*sets, *extra])


def loop_options(policies: tuple[str, ...] = POLICIES, days: int = LOOP_DAYS) -> LoopOptions:
    return LoopOptions(policies=policies, days=days, warmup_days=TINY_DAYS, preset="tiny")


@pytest.fixture(scope="module")
def loop_run(spark, tmp_path_factory) -> tuple[AppConfig, LoopResult, pd.DataFrame]:
    root = tmp_path_factory.mktemp("loop")
    config = config_of(pipeline_args(root / "warehouse", root / "landing"), tuple(WORLD))
    result = run_loop(spark, config, loop_options())
    assert not result.warmup_reused
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
    run_dates = RUN_DATES
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


def test_thompson_regret_is_below_greedy_and_random(loop_run):
    """The issue's claim, in the world built for it (seeded: the figures are reproducible).

    Observed in this test (3 loop days, cumulative regret against the rule-free oracle): thompson
    96.2, greedy 118.9, random 128.2, i.e. Thompson 19% below greedy and 25% below random.
    Margins asserted: 10% and 15%. (`recsys simulate-loop` with the same settings, outside the
    test session's Spark settings, gave 93.6, 115.7 and 128.2: docs/simulate_loop.md.)
    """
    _, _, results_df = loop_run
    regret = results_df.groupby("policy")["cumulative_regret"].last()
    assert regret["thompson"] <= 0.90 * regret["greedy"], regret.to_dict()
    assert regret["thompson"] <= 0.85 * regret["random"], regret.to_dict()
    # Learning from the warm-up's feedback pays for greedy too.
    assert regret["greedy"] < regret["random"], regret.to_dict()


def test_why_thompson_wins_here(loop_run):
    """The mechanism behind the margins: a best promotion the prior under-rates, found by
    Thompson's posterior draws and left mostly unshown by greedy's posterior means."""
    config, _, _ = loop_run
    workspace = LoopWorkspace.for_config(config)
    launch_date = RUN_DATES[1]
    truth = pq.read_table(Path(workspace.folder("greedy")) / "landing" / "_ground_truth" / "response"
                          ).to_pandas().groupby("promotion_id")["p_redeem"].mean()
    # The new coupon is truly the best by far (0.53 against at most 0.26)...
    assert truth[NEW_PROMOTION] >= truth.drop(NEW_PROMOTION).max() + 0.2, truth.to_dict()
    # ...but on its first run date every policy's global prior puts it below the best old promotion
    # (0.094 against 0.218 in the documented run): the model cannot see its appeal.
    for policy in POLICIES:
        stats = DeltaTable(str(Path(workspace.folder(policy)) / "warehouse" / "bandit_arm_stats")
                           ).to_pandas()
        first = stats[(stats["run_date"] == launch_date) & (stats["context"] == "global")]
        posterior = first.set_index("promotion_id")["posterior_mean"]
        assert posterior[NEW_PROMOTION] < posterior.drop(NEW_PROMOTION).max(), (policy, posterior)

    def given_coupon(policy: str) -> pd.Series:
        plan = DeltaTable(str(Path(workspace.folder(policy)) / "warehouse" / "user_promotions")
                          ).to_pandas()
        return plan.groupby("run_date")["promotion_id"].apply(lambda p: int((p == NEW_PROMOTION).sum()))
    thompson, greedy = given_coupon("thompson"), given_coupon("greedy")
    # Thompson's draws from the coupon's wide prior gave it to users on its first day; greedy,
    # ranking by posterior means, gave it to none in the documented run.
    assert thompson[launch_date] > 0, thompson.to_dict()
    assert thompson[launch_date] >= 2 * greedy[launch_date], (thompson.to_dict(), greedy.to_dict())


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
        assert sorted(up["run_date"].unique()) == RUN_DATES
        # From loop day 2 the warm-up's model re-scored each run date (no retraining).
        scores = DeltaTable(str(root / "promotion_scores")).to_pandas()
        model_run = scores.loc[scores["run_date"] == START + dt.timedelta(days=TINY_DAYS - 1),
                               "model_run_id"].unique()
        for i in range(1, LOOP_DAYS):
            day = scores[scores["run_date"] == START + dt.timedelta(days=TINY_DAYS - 1 + i)]
            assert len(day) > 0 and list(day["model_run_id"].unique()) == list(model_run)


def test_plot_is_a_png(loop_run, tmp_path):
    _, result, _ = loop_run
    path = plot_cumulative_regret({o.policy: o.rows for o in result.outcomes}, tmp_path / "r.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_warmup_from_copies_a_finished_run(spark, tmp_path, tiny_pipeline: PipelineRun):
    """`--warmup-from`: the tiny `recsys run` becomes the warm-up, copied and never changed."""
    assert tiny_pipeline.returncode == 0, tiny_pipeline.stderr[-3000:]
    config = config_of(pipeline_args(tmp_path / "warehouse", tmp_path / "landing"))
    workspace = LoopWorkspace.for_config(config)
    source = (str(tiny_pipeline.warehouse), str(tiny_pipeline.landing))
    options = LoopOptions(policies=("greedy",), days=1, warmup_days=TINY_DAYS, preset="tiny",
                          warmup_from=source)
    warmup, _ = loop_dates(config, options)
    import_warmup(spark, config, workspace, warmup, source, say=lambda message: None)
    copied = workspace.config_for(config, WARMUP_DIR).warehouse
    tables = TableStore(None, copied).list_tables()
    original = dataclasses.replace(config.warehouse, root=str(tiny_pipeline.warehouse))
    assert tables == TableStore(None, original).list_tables() and "promotion_scores" in tables
    check_copied_tables(copied.root, tables)  # raises if a copy still reads the original's files
    # A run that did not reach the loop's last warm-up day is refused with the reason.
    later = [d + dt.timedelta(days=1) for d in warmup]
    with pytest.raises(LoopInputError, match=f"no succeeded response stage for {later[-1]}"):
        import_warmup(spark, config, workspace, later, source, say=lambda message: None)


def test_rerun_gives_identical_results(loop_run, spark):
    config, _, first_df = loop_run
    # The warm-up is reused, thompson's folder copied afresh and its first 2 days run again
    # (day 2 re-scores and reads day 1's feedback): bandit draws, simulated responses and
    # cleaning are all keyed, so the rows equal the first run's.
    again = run_loop(spark, config, loop_options(("thompson",), days=2))
    assert again.warmup_reused
    rerun = read_results(config)
    expected = first_df[(first_df["policy"] == "thompson") & (first_df["loop_day"] <= 2)]
    pd.testing.assert_frame_equal(rerun[rerun["policy"] == "thompson"].reset_index(drop=True),
                                  expected.reset_index(drop=True))
