"""The calibration statistics on a hand-made ground truth, every figure computed by hand."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsys_spark.simulate.calibration import WorldStatistics, world_statistics
from recsys_spark.simulate.truth import truth_uri

pytestmark = pytest.mark.stage

D1, D2, D3, D4 = (dt.date(2026, 11, 1) + dt.timedelta(days=i) for i in range(4))
EVENTS_DDL = ("event_type string, user_id string, session_id string, item_id string, "
              "category string, is_bot boolean, gen_date date")
ROWS = [
    # u1: a a(click) on D1, b on D2; then a click on D3 and a cart in c on D4
    ("view", "u1", "s1", "i1", "a", False, D1), ("view", "u1", "s1", "i2", "a", False, D1),
    ("click", "u1", "s1", "i2", "a", False, D1), ("view", "u1", "s2", "i3", "b", False, D2),
    ("click", "u1", "s3", "i1", "a", False, D3), ("add_to_cart", "u1", "s4", "i4", "c", False, D4),
    ("promo_impression", "u1", "s1", None, None, False, D1),
    ("promo_impression", "u1", "s1", None, None, False, D1),
    ("promo_click", "u1", "s1", None, None, False, D1),
    # u2: b on D1 and again (a view only) on D3
    ("view", "u2", "s5", "i3", "b", False, D1), ("view", "u2", "s6", "i3", "b", False, D3),
    # u3: c on D1, a and b on D2, buys c on D4
    ("view", "u3", "s7", "i4", "c", False, D1), ("view", "u3", "s8", "i1", "a", False, D2),
    ("view", "u3", "s8", "i3", "b", False, D2), ("purchase", "u3", "s9", "i4", "c", False, D4),
    # u4: one session; and a bot, which every statistic leaves out
    ("view", "u4", "s10", "i5", "d", False, D2),
    ("view", "bot", "s11", "i5", "d", True, D2), ("view", "bot", "s11", "i6", "e", True, D2),
]


@pytest.fixture(scope="module")
def landing(spark, tmp_path_factory) -> str:
    root = str(Path(tmp_path_factory.mktemp("calibration")) / "landing")
    spark.createDataFrame(ROWS, EVENTS_DDL).write.partitionBy("gen_date").parquet(
        truth_uri(root, "true_events"))
    items = pa.table({"item_id": [f"i{i}" for i in range(1, 7)],
                      "category": ["a", "a", "b", "c", "d", "e"]})
    pq.write_table(items, f"{root}/_ground_truth/items.parquet")
    return root


def test_every_statistic_matches_the_hand_computed_value(spark, landing):
    stats = world_statistics(spark, landing)
    log2_3 = 1.584962500721156
    idcg_2 = 1.0 + 1.0 / log2_3
    # Own history (D1-D2): u1 [a:4, b:1], u3 [a:1, b:1, c:1]; relevant (D3-D4 non-view):
    # u1 {a, c}, u3 {c}. Popularity: [a:5, b:3, c:1, d:1].
    own = (1.0 / idcg_2 + 0.5) / 2
    pop = ((1.0 + 0.5) / idcg_2 + 0.5) / 2
    expected = WorldStatistics(
        item_events=13,
        event_shares={"view": 9 / 13, "click": 2 / 13, "add_to_cart": 1 / 13,
                      "remove_from_cart": 0.0, "purchase": 1 / 13},
        items_seen=5, items_seen_by_at_most_two=4 / 5,  # i3 is viewed by u1, u2 and u3
        leaf_categories=5, categories_touched=4,
        # views per session: s1 2, s8 2, s2 s5 s6 s7 s10 1 (s3, s4, s9 have none)
        session_views_quantiles={"p25": 1.0, "p50": 1.0, "p75": 1.5, "p90": 2.0, "p99": 2.0,
                                 "max": 2.0},
        single_session_users=1 / 4,
        # after the first day: u1 b(no) a(yes) c(no), u2 b(yes), u3 a(no) b(no) c(yes)
        repeat_category_share=3 / 7,
        impressions=2, promo_click_rate=0.5, promo_redeem_rate=0.0,
        ndcg_own_history=own, ndcg_popularity=pop, evaluated_users=2)
    _assert_close(stats, expected)


def _assert_close(actual: WorldStatistics, expected: WorldStatistics) -> None:
    for name, value in vars(expected).items():
        got = getattr(actual, name)
        if isinstance(value, dict):
            assert got.keys() == value.keys(), name
            assert all(got[k] == pytest.approx(v) for k, v in value.items()), (name, got)
        else:
            assert got == pytest.approx(value), (name, got, value)


def test_a_window_too_short_for_the_split_is_refused(spark, landing):
    with pytest.raises(ValueError, match="train_days: 3 training \\+ 2 test days do not fit in the 4"):
        world_statistics(spark, landing, train_days=3)
