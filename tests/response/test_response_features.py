"""Point-in-time features: hand-computed values, and the leakage guard (nothing at or after
the probe's instant can change a feature)."""
from __future__ import annotations

import datetime as dt
import math

import pytest
from chispa import assert_approx_df_equality
from pyspark.sql import functions as F

from recsys_spark.response.feature_set import OptionalInputs, build_features
from recsys_spark.response.training_features import BASE_NUMERIC
from tests.factories import event, frame, nullable_schema, promotion, segment, ts

pytestmark = pytest.mark.unit

T0 = "2026-11-05 12:00"
LABEL_EVENTS = ("promo_click", "promo_redeem")


def _promotions(spark):
    return frame(spark, "promotions", [
        promotion("p1", promo_type="percent_off", discount_value=0.2, min_spend=30.0,
                  eligible_categories=["electronics"], start="2026-11-01", end="2026-11-30", budget=4),
        promotion("p2", promo_type="free_shipping", discount_value=4.9, min_spend=0.0,
                  eligible_categories=[], start="2026-11-01", end="2026-11-30", budget=100)])


def _past():
    return [
        event("a1", "2026-11-01 09:00", "view", "u1", item_id="i1", category="electronics.audio"),
        event("a2", "2026-11-02 09:00", "view", "u1", item_id="i2", category="fashion.shoes"),
        event("a3", "2026-11-03 12:00", "purchase", "u1", item_id="i3", category="electronics.tv",
              price=50.0, quantity=2),
        event("a4", "2026-11-04 10:00", "promo_impression", "u1", promotion_id="p1"),
        event("a5", "2026-11-04 10:05", "promo_click", "u1", promotion_id="p1"),
        event("a6", "2026-11-04 11:00", "promo_impression", "u1", promotion_id="p2"),
        event("a7", "2026-11-04 12:00", "promo_redeem", "u2", promotion_id="p1"),
        event("a8", "2026-10-30 08:00", "remove_from_cart", "u1", item_id="i9", category="home.x"),
    ]


def _present_and_future():
    """Everything at the probe's instant or later, including the probed impression itself."""
    return [
        event("b0", T0, "promo_impression", "u1", promotion_id="p1", position=2),
        event("b1", T0, "view", "u1", item_id="i1", category="electronics.audio"),
        event("b2", T0, "promo_redeem", "u3", promotion_id="p1"),
        event("b3", "2026-11-05 12:00:01", "promo_click", "u1", promotion_id="p1"),
        event("b4", "2026-11-05 13:00", "purchase", "u1", item_id="i4", category="fashion.shoes",
              price=500.0, quantity=1),
        event("b5", "2026-11-06 09:00", "promo_impression", "u1", promotion_id="p2"),
        event("b6", "2026-11-06 09:01", "promo_redeem", "u1", promotion_id="p2"),
        event("b7", "2026-11-07 09:00", "promo_redeem", "u2", promotion_id="p1"),
    ]


def _probes(spark):
    return spark.createDataFrame(
        [("x1", "u1", "p1", ts(T0), dt.date(2026, 11, 5), 2),
         ("x2", "u1", "p2", ts(T0), dt.date(2026, 11, 5), 1)],
        "probe_id string, user_id string, promotion_id string, probe_time timestamp, "
        "probe_date date, position int")


EXPECTED = [
    # probe_id, position, u_log_item_events, u_log_purchases, u_log_spend, u_days_since_purchase,
    # u_log_impressions, u_response_rate, up_log_exposures, up_log_responses,
    # ut_log_impressions, ut_response_rate, u_category_share, p_budget_used_share,
    # discount_fraction, log_discount_eur, log_min_spend, days_left, days_since_start, is_targeted
    ("x1", 2.0, math.log1p(3), math.log1p(1), math.log1p(100), 2.0, math.log1p(2), 1 / 3,
     math.log1p(1), math.log1p(1), math.log1p(1), 1 / 2, 2 / 3, 1 / 4,
     0.2, 0.0, math.log1p(30), 25.0, 4.0, 1.0),
    ("x2", 1.0, math.log1p(3), math.log1p(1), math.log1p(100), 2.0, math.log1p(2), 1 / 3,
     math.log1p(1), 0.0, math.log1p(1), 0.0, 1.0, 0.0,
     0.0, math.log1p(4.9), 0.0, 25.0, 4.0, 0.0),
]


def _features(spark, rows, inputs: OptionalInputs | None = None):
    out_df, spec, _ = build_features(_probes(spark), frame(spark, "events", rows), _promotions(spark),
                                     inputs or OptionalInputs(), LABEL_EVENTS, lookback_days=90,
                                     min_coverage=0.0)
    return out_df, spec


def test_features_by_hand_and_no_future_leakage(spark):
    expected_df = spark.createDataFrame(EXPECTED, ["probe_id", *BASE_NUMERIC])
    past_df, spec = _features(spark, _past())
    everything_df, _ = _features(spark, _past() + _present_and_future())
    assert spec.sources == ()
    columns = ["probe_id", *BASE_NUMERIC]
    assert_approx_df_equality(past_df.select(*columns), expected_df, 1e-9, ignore_row_order=True,
                              ignore_nullable=True)
    # The leakage guard: adding the probe's own instant and the future changes nothing.
    assert_approx_df_equality(everything_df.select(*columns), expected_df, 1e-9,
                              ignore_row_order=True, ignore_nullable=True)
    assert sorted(r["promo_type"] for r in everything_df.collect()) == ["free_shipping", "percent_off"]


def test_optional_snapshots_are_point_in_time(spark):
    def day(text):
        return dt.date.fromisoformat(text)

    als_df = spark.createDataFrame([
        ("u1", "electronics", 0.7, "r", day("2026-11-03")),
        ("u1", "fashion", 0.9, "r", day("2026-11-03")),
        ("u1", "electronics", 0.1, "r", day("2026-11-05")),   # same day as the probe: too late
        ("u1", "fashion", 0.2, "r", day("2026-11-06")),       # future
    ], nullable_schema("als_category_affinity"))
    segments_df = frame(spark, "user_segments", [
        segment("u1", "s1", rfm_segment="loyal", run_id="r", run_date="2026-11-04"),
        segment("u1", "s9", rfm_segment="lost", run_id="r", run_date="2026-11-05"),
    ])
    out_df, spec = _features(spark, _past(), OptionalInputs(user_segments=segments_df,
                                                            als_category_affinity=als_df))
    assert spec.sources == ("user_segments", "als_category_affinity")
    expected_df = spark.createDataFrame(
        [("x1", "s1", "loyal", 0.7, 1.0), ("x2", "s1", "loyal", 0.9, 1.0)],
        ["probe_id", "segment_id", "rfm_segment", "als_affinity", "als_present"])
    assert_approx_df_equality(
        out_df.select("probe_id", "segment_id", "rfm_segment", "als_affinity", "als_present")
        .orderBy("probe_id"), expected_df, 1e-9, ignore_nullable=True)
    assert out_df.filter(F.col("probe_id") == "x1").first()["u_category_share"] == pytest.approx(2 / 3)
