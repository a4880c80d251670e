"""The cluster test's table comparison: last-bit float differences and the order of tied entries
are the same result; anything else is a difference."""
from __future__ import annotations

import pandas as pd

from tests.cluster.compare import frames_equal_within_tolerance

KEYS = ("run_date", "user_id", "rank")


def _ranked(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["run_date", "user_id", "rank", "item_id", "score", "source"])


LOCAL = _ranked([
    ("d", "u1", 1, "a", -3.1744224581, "blend"),
    ("d", "u1", 2, "b", -3.5132476107, "blend"),
    ("d", "u1", 3, "c", -3.5132476106, "blend"),  # tied with b within 1e-9
    ("d", "u1", 4, "e", -3.9, "blend"),
    ("d", "u2", 1, "a", 0.5, "popularity"),
    ("d", "u2", 2, "f", 0.25, "popularity"),
])


def _equal(local: pd.DataFrame, cluster: pd.DataFrame) -> bool:
    return frames_equal_within_tolerance(local, cluster, ["score"], KEYS)


def test_the_same_ranked_lists_with_last_bit_score_differences_are_equal():
    cluster = LOCAL.assign(score=LOCAL["score"] * (1 + 1e-10))
    assert _equal(LOCAL, cluster)


def test_tied_entries_may_trade_places():
    cluster = LOCAL.copy()
    cluster.loc[[1, 2], "item_id"] = ["c", "b"]
    assert _equal(LOCAL, cluster)


def test_the_last_entry_of_a_list_may_be_another_candidate_with_the_same_score():
    cluster = LOCAL.copy()
    cluster.loc[3, "item_id"] = "x"
    assert _equal(LOCAL, cluster)


def test_untied_entries_that_trade_places_are_a_difference():
    cluster = LOCAL.copy()
    cluster.loc[[0, 1], "item_id"] = ["b", "a"]
    assert not _equal(LOCAL, cluster)


def test_another_entry_above_the_cut_is_a_difference():
    cluster = LOCAL.copy()
    cluster.loc[4, "item_id"] = "x"
    assert not _equal(LOCAL, cluster)


def test_a_score_near_zero_may_differ_by_last_bit_noise_of_its_terms():
    local = LOCAL.copy()
    local.loc[1, "score"] = -0.003466258582882631
    cluster = local.assign(score=local["score"])
    cluster.loc[1, "score"] = -0.00346625410606638  # 1.3e-6 relative, 4.5e-9 absolute
    assert _equal(local, cluster)


def test_a_score_beyond_the_tolerance_is_a_difference():
    cluster = LOCAL.copy()
    cluster.loc[3, "score"] = -3.9001
    assert not _equal(LOCAL, cluster)


def test_another_column_of_a_tied_entry_must_move_with_it():
    cluster = LOCAL.copy()
    cluster.loc[[1, 2], "item_id"] = ["c", "b"]
    cluster.loc[1, "source"] = "popularity"
    assert not _equal(LOCAL, cluster)


def test_a_missing_row_is_a_difference():
    assert not _equal(LOCAL, LOCAL.iloc[:-1])


def test_unranked_tables_compare_rows_in_any_order_with_the_float_tolerance():
    local = pd.DataFrame({"k": ["a", "b"], "x": [1.0, 2.0]})
    assert frames_equal_within_tolerance(local, local.iloc[::-1].assign(x=[2.0 + 1e-9, 1.0]), ["x"])
    assert not frames_equal_within_tolerance(local, local.assign(x=[1.0, 2.1]), ["x"])
    assert not frames_equal_within_tolerance(local, local.assign(k=["a", "c"]), ["x"])
