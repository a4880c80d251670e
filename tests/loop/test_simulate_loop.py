"""The closed loop on Spark, from the tiny `recsys run` the suite already makes (`--warmup-from`):
per-day arithmetic against an independent pandas reader of the ground truth, independent copies,
an identical rerun, and refusing a run that does not reach the warm-up's last day.

What the policies earn is compared over many worlds in numpy on the simulator's ground truth
(tests/loop/test_truth_loop.py, benchmarks/bench_policy_worlds.py): the Spark loop costs a
pipeline day per policy and day, so it runs here once, one policy for LOOP_DAYS days, only for
what the numpy loop cannot show (the pipeline's stages and tables in closed loop).
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
from recsys_spark.loop.budget_spend import loop_budget_spend
from recsys_spark.loop.options import LoopInputError, LoopOptions
from recsys_spark.loop.plot import plot_cumulative_regret
from recsys_spark.loop.runner import LoopResult, import_warmup, loop_dates, run_loop
from recsys_spark.loop.workspace import WARMUP_DIR, LoopWorkspace, check_copied_tables
from recsys_spark.schemas.loop import LOOP_RESULTS
from recsys_spark.tables import TableStore
from tests.conftest import REPO_ROOT, TINY_DAYS, PipelineRun, pipeline_args

pytestmark = pytest.mark.e2e

LOOP_DAYS = 2
POLICIES = ("thompson",)
START = dt.date(2026, 11, 1)
RUN_DATES = [START + dt.timedelta(days=TINY_DAYS - 1 + i) for i in range(LOOP_DAYS)]


def config_of(args: list[str], extra: tuple[str, ...] = ()) -> AppConfig:
    """The AppConfig a `recsys` command with these arguments (plus ``extra`` sets) loads."""
    sets = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
    return load_config(str(REPO_ROOT / "conf" / "local.yaml"), [*sets, *extra])


def loop_options(source: tuple[str, str], days: int = LOOP_DAYS) -> LoopOptions:
    return LoopOptions(policies=POLICIES, days=days, warmup_days=TINY_DAYS, preset="tiny",
                       warmup_from=source)


def source_of(run: PipelineRun) -> tuple[str, str]:
    assert run.returncode == 0, run.stderr[-3000:]
    return str(run.warehouse), str(run.landing)


@pytest.fixture(scope="module")
def loop_run(spark, tmp_path_factory, tiny_pipeline: PipelineRun
             ) -> tuple[AppConfig, LoopResult, pd.DataFrame]:
    root = tmp_path_factory.mktemp("loop")
    config = config_of(pipeline_args(root / "warehouse", root / "landing"))
    result = run_loop(spark, config, loop_options(source_of(tiny_pipeline)))
    assert result.warmup_reused  # imported, not simulated
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


def reference_spend(landing: Path, shown_days: list[dt.date]) -> pd.DataFrame:
    """Per promotion: budget, spent_before, accepted, refused, spent, recomputed with pandas from
    the ground-truth files (accepted = true promo_redeem events; refused = refused_redeems)."""
    truth = landing / "_ground_truth"
    budgets = pd.read_parquet(truth / "promotions.parquet")[["promotion_id", "budget"]]
    events = pq.read_table(truth / "true_events").to_pandas()
    redeems = events[(events["event_type"] == "promo_redeem") & events["promotion_id"].notna()]
    day = pd.to_datetime(redeems["gen_date"].astype(str)).dt.date
    before = redeems[day < shown_days[0]].groupby("promotion_id").size().rename("spent_before")
    accepted = redeems[day.isin(shown_days)].groupby("promotion_id").size().rename("accepted")
    refused_dir = truth / "refused_redeems"
    refused = pd.Series(dtype="int64", name="refused")
    if any(refused_dir.glob("gen_date=*/*.parquet")):
        rows = pq.read_table(refused_dir).to_pandas()
        rows = rows[pd.to_datetime(rows["gen_date"].astype(str)).dt.date.isin(shown_days)]
        refused = rows.groupby("promotion_id").size().rename("refused")
    out = budgets.set_index("promotion_id").join([before, accepted, refused]).fillna(0)
    out["spent"] = out["spent_before"] + out["accepted"]
    return out.astype("int64").sort_index()


def check_budgets(spark, folder: Path, run_dates: list[dt.date]) -> tuple[pd.DataFrame, int]:
    """Assert a policy's loop kept its budgets: the ground-truth spend measured by
    loop/budget_spend.py equals a pandas reader's and never passes a budget; on every run date
    the bandit gave no slot to a promotion whose budget the promo_redeem events up to that date
    had used up.

    Returns:
        The measured spend (by promotion_id) and how many (run date, promotion) pairs were used
        up in the bandit's view (0: the bandit's part tested nothing).
    """
    shown_days = [d + dt.timedelta(days=1) for d in run_dates]
    got = (loop_budget_spend(spark, str(folder / "landing"), run_dates).toPandas()
           .set_index("promotion_id").sort_index())
    ref = reference_spend(folder / "landing", shown_days)
    cols = ["budget", "spent_before", "accepted", "refused", "spent"]
    pd.testing.assert_frame_equal(got[cols].astype("int64"), ref[cols])
    assert (got["spent"] <= got["budget"]).all() and (got["overspend"] == 0).all()
    events = DeltaTable(str(folder / "warehouse" / "events")).to_pandas(
        columns=["event_type", "promotion_id", "event_date"])
    redeems = events[events["event_type"] == "promo_redeem"]
    plans = DeltaTable(str(folder / "warehouse" / "user_promotions")).to_pandas(
        columns=["run_date", "promotion_id"])
    budgets = ref["budget"]
    used_up = 0
    for run_date in run_dates:
        seen = redeems[redeems["event_date"] <= run_date].groupby("promotion_id").size()
        gone = {p for p, n in seen.items() if p in budgets.index and n >= budgets[p]}
        shown = set(plans.loc[plans["run_date"] == run_date, "promotion_id"].dropna())
        assert not gone & shown, (folder.name, run_date, sorted(gone & shown))
        used_up += len(gone)
    return got, used_up


def test_budgets_hold_in_the_shop_and_in_the_bandit(loop_run, spark):
    config, _, _ = loop_run
    workspace = LoopWorkspace.for_config(config)
    for policy in POLICIES:
        spend, used_up = check_budgets(spark, Path(workspace.folder(policy)), RUN_DATES)
        # The tiny world's best promotion spends its whole budget in the warm-up: the bound
        # binds, and the bandit must leave it out.
        assert (spend["spent"] == spend["budget"]).any()
        assert used_up > 0, "no promotion was used up in the bandit's view: nothing tested"


def test_plot_is_a_png(loop_run, tmp_path):
    _, result, _ = loop_run
    path = plot_cumulative_regret({o.policy: o.rows for o in result.outcomes}, tmp_path / "r.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_warmup_from_copies_a_finished_run(loop_run, spark, tiny_pipeline: PipelineRun):
    """`--warmup-from`: the tiny `recsys run` became the warm-up, copied and never changed."""
    config, _, _ = loop_run
    workspace = LoopWorkspace.for_config(config)
    copied = workspace.config_for(config, WARMUP_DIR).warehouse
    tables = TableStore(None, copied).list_tables()
    original = dataclasses.replace(config.warehouse, root=str(tiny_pipeline.warehouse))
    assert tables == TableStore(None, original).list_tables() and "promotion_scores" in tables
    check_copied_tables(copied.root, tables)  # raises if a copy still reads the original's files
    # A run that did not reach the loop's last warm-up day is refused with the reason.
    warmup, _ = loop_dates(config, loop_options(source_of(tiny_pipeline)))
    later = [d + dt.timedelta(days=1) for d in warmup]
    with pytest.raises(LoopInputError, match=f"no succeeded response stage for {later[-1]}"):
        import_warmup(spark, config, workspace, later, source_of(tiny_pipeline), say=lambda message: None)


def test_rerun_gives_identical_results(loop_run, spark, tiny_pipeline: PipelineRun):
    config, _, first_df = loop_run
    # The warm-up is imported again, thompson's folder copied afresh and its first day run again:
    # bandit draws (and Thompson's propensity draws), simulated responses and cleaning are all
    # keyed, so the row equals the first run's. (Day 2 reads day 1's feedback: the same inputs,
    # so the same argument carries over; one day keeps the suite's time.)
    run_loop(spark, config, loop_options(source_of(tiny_pipeline), days=1))
    rerun = read_results(config)
    expected = first_df[first_df["loop_day"] == 1]
    pd.testing.assert_frame_equal(rerun.reset_index(drop=True), expected.reset_index(drop=True))
