"""The shared vocabulary: when a promotion may be served (activity and budget), defined once."""
from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality

from recsys_spark.domain.promotions import servable_promotions, spend_start
from tests.factories import event, frame, promotion

pytestmark = pytest.mark.unit

RUN = dt.date(2026, 11, 20)


def test_servable_promotions_by_hand(spark):
    promotions_df = frame(spark, "promotions", [
        promotion("unlimited", budget=None),                      # null budget: never exhausted
        promotion("left", budget=3, eligible_categories=["a", "a", "b"]),   # 2 of 3 spent
        promotion("spent", budget=2),                             # 2 of 2: exhausted
        promotion("later", budget=2),                             # its redeem after the run date
        promotion("open_end", start="2026-11-01", end="2026-11-30", end_date=None, budget=None),
        promotion("open_start", start_date=None, budget=5),
        promotion("ended", end="2026-11-19"),
        promotion("future", start="2026-11-21"),
    ])
    events_df = frame(spark, "events", [
        event(1, "2026-11-10", "promo_redeem", "u1", promotion_id="left"),
        event(2, "2026-11-20", "promo_redeem", "u2", promotion_id="left"),
        event(3, "2026-11-10", "promo_redeem", "u1", promotion_id="spent"),
        event(4, "2026-11-11", "promo_redeem", "u2", promotion_id="spent"),
        event(5, "2026-11-21", "promo_redeem", "u2", promotion_id="later"),
        event(6, "2026-11-11", "promo_click", "u2", promotion_id="later"),   # not a redemption
        event(7, "2026-11-11", "promo_redeem", "u3", promotion_id="unlimited"),
    ])
    got = servable_promotions(promotions_df, events_df, RUN)
    expected = spark.createDataFrame([
        ("unlimited", "percent_off", [], None, 1, None),
        ("left", "percent_off", ["a", "b"], 3, 2, 1.0),
        ("later", "percent_off", [], 2, 0, 2.0),
        ("open_end", "percent_off", [], None, 0, None),
        ("open_start", "percent_off", [], 5, 0, 5.0),
    ], got.schema)
    assert got.columns == ["promotion_id", "promo_type", "eligible_categories", "budget", "redeemed",
                           "remaining_budget"]
    assert_df_equality(got, expected, ignore_row_order=True)


def test_spend_starts_at_the_earliest_active_start(spark):
    dated = frame(spark, "promotions", [promotion("a", start="2026-11-05"),
                                        promotion("b", start="2026-11-12"),
                                        promotion("old", start="2026-01-01", end="2026-02-01")])
    assert spend_start(dated, RUN) == dt.date(2026, 11, 5)
    assert spend_start(dated, dt.date(2026, 12, 25)) == dt.date(2026, 12, 25)   # none active
    undated = frame(spark, "promotions", [promotion("a"), promotion("b", start_date=None)])
    assert spend_start(undated, RUN) is None                                    # all history
