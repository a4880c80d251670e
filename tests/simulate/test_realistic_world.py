"""A small realistic world through the real generator: calibration bands, same bytes, closed loop.

The bands are those of docs/realistic_world.md, widened for a world a third the size (1,500
users, 12,000 items, 5 days); the full preset's figures are in the docs.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from recsys_spark.settings.simulate import SimulatorConfig
from recsys_spark.simulate import read_truth, respond
from recsys_spark.simulate.api import generate
from recsys_spark.simulate.calibration import world_statistics

pytestmark = pytest.mark.stage

SEED = 20261123
START = dt.date(2026, 11, 1)
DAYS = 5
SMALL = dict(n_users=1500, n_items=12000, files_per_day=2, generation_partitions=2)


def _config(**overrides) -> SimulatorConfig:
    return SimulatorConfig.from_preset("realistic", **{**SMALL, **overrides})


@pytest.fixture(scope="module")
def small_world(spark, tmp_path_factory) -> str:
    root = str(Path(tmp_path_factory.mktemp("realistic")) / "landing")
    generate(spark, _config(), root, START, DAYS, SEED)
    return root


@pytest.fixture(scope="module")
def stats(spark, small_world):
    return world_statistics(spark, small_world)


def _tree_hashes(root: Path, sub: str) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / sub).rglob("*")) if p.is_file()}


def test_mostly_views_with_a_few_percent_of_carts_and_purchases(stats):
    shares = stats.event_shares
    assert 0.87 <= shares["view"] <= 0.95, shares
    assert 0.025 <= shares["click"] <= 0.07, shares
    assert 0.012 <= shares["add_to_cart"] <= 0.045, shares
    assert 0.008 <= shares["purchase"] <= 0.03, shares
    assert shares["remove_from_cart"] < shares["purchase"], shares


def test_heavy_tails_items_seen_once_or_twice_and_sessions_of_very_different_lengths(stats):
    assert stats.items_seen_by_at_most_two >= 0.6, stats.items_seen_by_at_most_two
    assert stats.items_seen >= 3000  # a quarter of the catalog or more is seen at all
    q = stats.session_views_quantiles
    assert q["p50"] <= 4 and q["p90"] >= 10 and q["p99"] >= 30 and q["max"] >= 80, q
    assert stats.single_session_users >= 0.3, stats.single_session_users


def test_hundreds_of_leaf_categories_and_users_come_back_to_theirs(stats):
    assert stats.leaf_categories == 400  # 12,000 items / 30 per leaf
    assert stats.categories_touched >= 340
    assert 0.35 <= stats.repeat_category_share <= 0.7, stats.repeat_category_share
    # The user's own history beats global popularity by a wide margin (real logs: 0.225 vs 0.117).
    assert stats.evaluated_users >= 60
    assert stats.ndcg_own_history >= 1.5 * stats.ndcg_popularity, stats
    assert 0.03 <= stats.ndcg_popularity <= 0.25, stats


def test_promotions_are_shown_clicked_and_redeemed_at_plausible_rates(stats):
    assert stats.impressions >= 2000
    assert 0.02 <= stats.promo_click_rate <= 0.12, stats.promo_click_rate
    assert 0.004 <= stats.promo_redeem_rate <= 0.04, stats.promo_redeem_rate
    assert stats.promo_redeem_rate < stats.promo_click_rate


def test_same_seed_same_files_whatever_the_partitioning(spark, small_world, tmp_path):
    before = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", "5")
    try:
        other = str(tmp_path / "landing")
        generate(spark, _config(generation_partitions=3), other, START, DAYS, SEED)
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", before)
    a, b = Path(small_world), Path(other)
    for sub in ("events", "catalog"):
        hashes = _tree_hashes(a, sub)
        assert len(hashes) >= 3 * DAYS
        assert hashes == _tree_hashes(b, sub)


def test_closed_loop_shows_only_the_planned_promotions(spark, small_world, tmp_path):
    landing = str(tmp_path / "landing")  # a copy: respond adds a day, the other tests read five
    shutil.copytree(small_world, landing)
    run_date = START + dt.timedelta(days=DAYS - 1)
    users = [f"u{i:07d}" for i in range(0, 1500, 3)]
    rows = [(u, 1, "p0003", 0.25, run_date, "test_policy") for u in users]
    up_df = spark.createDataFrame(rows, "user_id string, rank int, promotion_id string, "
                                        "propensity double, run_date date, policy string")
    summary = respond(spark, _config(), landing, up_df, run_date, SEED)
    next_day = run_date + dt.timedelta(days=1)
    ev = read_truth(spark, landing, "true_events").filter(F.col("gen_date") == next_day)
    shown = ev.filter(F.col("promotion_id").isNotNull())
    assert summary.impressions > 50
    assert {(r["promotion_id"], r["policy"]) for r in
            shown.filter(F.col("event_type") == "promo_impression")
            .select("promotion_id", "policy").distinct().collect()} == {("p0003", "test_policy")}
    assert shown.filter(~F.col("user_id").isin(users)).count() == 0
    assert ev.filter(F.col("event_type") == "view").count() > 1000
