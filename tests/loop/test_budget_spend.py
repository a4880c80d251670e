"""Spend against budget per promotion (loop/budget_spend.py) on a hand-made case."""
from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality

from recsys_spark.loop.budget_spend import SPEND_COLUMNS, budget_spend

pytestmark = pytest.mark.unit


def _d(day: int) -> dt.date:
    return dt.date(2026, 11, day)


def _rows(spark, counts: dict[tuple[str, int], int]):
    rows = [(_d(day), promo) for (promo, day), n in counts.items() for _ in range(n)]
    return spark.createDataFrame(rows, "date date, promotion_id string")


def test_budget_spend_by_hand(spark):
    # The loop shows Nov 10..12.
    budgets_df = spark.createDataFrame(
        [("pa", 3), ("pb", 2), ("pc", 5), ("pd", 1), ("pn", None), ("pz", 4)],
        "promotion_id string, budget long")
    redeems_df = _rows(spark, {
        ("pa", 9): 1, ("pa", 10): 1, ("pa", 11): 1,   # 1 before, 2 in the loop: 3 of 3 on Nov 11
        ("pb", 8): 2,                                  # spent before the loop: not exhausted in it
        ("pc", 10): 1, ("pc", 13): 1,                  # Nov 13 is after the loop's last day
        ("pd", 10): 2,                                 # 2 of 1 (the shop never does it; measured)
        ("pn", 11): 3,                                 # unlimited: never over, never exhausted
        ("px", 10): 1})                                # not a promotion of budgets_df: no row
    refused_df = _rows(spark, {("pa", 12): 2, ("pb", 10): 1, ("pb", 9): 1})   # Nov 9: warm-up's
    impressions_df = _rows(spark, {
        ("pa", 11): 1, ("pa", 12): 2, ("pa", 13): 1,   # only Nov 12's come after Nov 11 in the loop
        ("pb", 12): 1, ("pd", 10): 4, ("pd", 11): 1, ("pn", 12): 5})
    got = budget_spend(budgets_df, redeems_df, refused_df, impressions_df, _d(10), _d(12))
    expected = spark.createDataFrame([
        # promotion_id, budget, spent_before, accepted, refused, spent, overspend, exhausted_on, shown_after
        ("pa", 3, 1, 2, 2, 3, 0, _d(11), 2),
        ("pb", 2, 2, 0, 1, 2, 0, None, 0),
        ("pc", 5, 0, 1, 0, 1, 0, None, 0),
        ("pd", 1, 0, 2, 0, 2, 1, _d(10), 1),
        ("pn", None, 0, 3, 0, 3, 0, None, 0),
        ("pz", 4, 0, 0, 0, 0, 0, None, 0),
    ], "promotion_id string, budget long, spent_before long, accepted long, refused long, spent long, "
       "overspend long, exhausted_on date, shown_after long")
    assert got.columns == SPEND_COLUMNS
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
