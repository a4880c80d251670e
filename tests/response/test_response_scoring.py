"""Scoring covers exactly the eligible (user, promotion) pairs."""
from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from recsys_spark.domain.promotions import servable_promotions, user_categories
from recsys_spark.response.scoring import candidate_users, eligible_pairs
from recsys_spark.settings.response import ResponseConfig
from tests.factories import event, frame, nullable_schema, promotion, segment

pytestmark = pytest.mark.unit

RUN_DATE = dt.date(2026, 11, 20)


def _day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _inputs(spark):
    start, end = "2026-10-01", "2026-12-31"
    promos_df = frame(spark, "promotions", [
        promotion("pa", start=start, end=end, budget=10),
        promotion("pb", start=start, end=end, eligible_categories=["fashion"], budget=2),  # 1 of 2 redeemed
        promotion("pc", start=start, end=end, budget=2),                   # budget used up
        promotion("pd", start="2026-11-21", end=end, budget=1000),         # not started
        promotion("pe", start=start, end="2026-11-19", budget=1000),       # ended
        promotion("pf", start=start, eligible_categories=["home", "electronics"], end="2026-11-20",
                  budget=None),
        promotion("pg", start=start, end=end, budget=2),   # redemptions after the run date ignored
    ])
    events = frame(spark, "events", [
        event("e1", "2026-11-10 10:00", "view", "u1", item_id="i1", category="fashion.shoes"),
        event("e2", "2026-11-11 10:00", "purchase", "u2", item_id="i2", category="electronics.tv",
              price=10.0, quantity=1),
        event("e3", "2026-11-12 10:00", "promo_redeem", "u1", promotion_id="pb"),
        event("e4", "2026-11-12 10:00", "promo_redeem", "u1", promotion_id="pc"),
        event("e5", "2026-11-13 10:00", "promo_redeem", "u2", promotion_id="pc"),
        event("e6", "2026-11-13 10:00", "promo_redeem", "u2", promotion_id="pg"),
        event("e7", "2026-11-21 10:00", "promo_redeem", "u1", promotion_id="pg"),
        event("e8", "2026-11-21 11:00", "promo_redeem", "u3", promotion_id="pg"),
        # a category seen only after the run date does not target
        event("e9", "2026-11-21 10:00", "view", "u3", item_id="i1", category="fashion.shoes"),
        # remove_from_cart is no sign of interest
        event("e10", "2026-11-10 10:00", "remove_from_cart", "u6", item_id="i1", category="fashion.x"),
    ])
    users_df = spark.createDataFrame([(u, None, None, None, "r") for u in
                                      ("u1", "u2", "u3", "u4", "u5", "u6", "u7")],
                                     nullable_schema("users"))
    segments_df = frame(spark, "user_segments", [
        segment("u5", "s_bad", rfm_segment="lost", run_id="r", run_date="2026-11-20"),
        # an older snapshot: no longer excluded
        segment("u6", "s_bad", rfm_segment="lost", run_id="r", run_date="2026-11-19"),
        segment("u6", "s2", rfm_segment="loyal", run_id="r", run_date="2026-11-20"),
        # after the run date: ignored
        segment("u7", "s_bad", rfm_segment="lost", run_id="r", run_date="2026-11-21"),
    ])
    uf_df = frame(spark, "user_features", [
        {"user_id": "u7", "recency_days": 3, "top_categories": ["home.garden"], "run_id": "r",
         "run_date": _day("2026-11-20")},
        {"user_id": "u3", "recency_days": 3, "top_categories": ["fashion.shoes"], "run_id": "r",
         "run_date": _day("2026-11-21")}])   # after the run date
    return promos_df, events, users_df, segments_df, uf_df


def _pairs(spark, targeting: str):
    promos_df, events, users_df, segments_df, uf_df = _inputs(spark)
    cfg = ResponseConfig(targeting=targeting, excluded_user_ids=("u4",),
                         excluded_segments=("s_bad",))
    # The stage reads the newest snapshot on or before the run date (stage_io.Inputs.latest_run).
    latest_segments_df = segments_df.filter(F.col("run_date") == RUN_DATE)
    latest_features_df = uf_df.filter(F.col("run_date") == RUN_DATE)
    users = candidate_users(users_df, events, latest_segments_df, cfg, RUN_DATE)
    return eligible_pairs(users, servable_promotions(promos_df, events, RUN_DATE),
                          user_categories(events, latest_features_df, RUN_DATE), cfg.targeting)


def test_scoring_pairs_with_targeting(spark):
    expected = [("u1", "pa"), ("u1", "pb"), ("u1", "pg"),
                ("u2", "pa"), ("u2", "pf"), ("u2", "pg"),
                ("u3", "pa"), ("u3", "pg"),
                ("u6", "pa"), ("u6", "pg"),
                ("u7", "pa"), ("u7", "pf"), ("u7", "pg")]
    assert_df_equality(_pairs(spark, "eligible_categories"),
                       spark.createDataFrame(expected, "user_id string, promotion_id string"),
                       ignore_row_order=True, ignore_nullable=True)


def test_scoring_pairs_without_targeting(spark):
    expected = [(u, p) for u in ("u1", "u2", "u3", "u6", "u7") for p in ("pa", "pb", "pf", "pg")]
    assert_df_equality(_pairs(spark, "none"),
                       spark.createDataFrame(expected, "user_id string, promotion_id string"),
                       ignore_row_order=True, ignore_nullable=True)
