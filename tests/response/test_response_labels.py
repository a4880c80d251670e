"""Label construction: last-touch attribution within the window, delayed feedback left out."""
from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql.types import (
    DateType,
    DoubleType,
    IntegerType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from recsys_spark.response.labels import build_labels
from tests.factories import event, frame, ts

pytestmark = pytest.mark.unit

RUN_DATE = dt.date(2026, 11, 10)
LABELS = StructType([
    StructField("impression_id", StringType()), StructField("user_id", StringType()),
    StructField("promotion_id", StringType()), StructField("impression_time", TimestampType()),
    StructField("impression_date", DateType()), StructField("position", IntegerType()),
    StructField("propensity", DoubleType()), StructField("label", IntegerType()),
    StructField("response_time", TimestampType())])


def _rows():
    imp = "promo_impression"
    return [
        # responded 2 h later
        event("i1", "2026-11-05 10:00", imp, "u1", promotion_id="p1"),
        event("c1", "2026-11-05 12:00", "promo_click", "u1", promotion_id="p1"),
        # responded 25 h later: outside the 24 h window
        event("i2", "2026-11-06 10:00", imp, "u1", promotion_id="p1"),
        event("c2", "2026-11-07 11:00", "promo_click", "u1", promotion_id="p1"),
        # two impressions, one click: the latest impression before the click takes it
        event("i3", "2026-11-05 09:00", imp, "u2", promotion_id="p1"),
        event("i4", "2026-11-05 10:00", imp, "u2", promotion_id="p1", position=3),
        event("c4", "2026-11-05 10:30", "promo_click", "u2", promotion_id="p1"),
        # a redemption is a response too (default label events)
        event("i5", "2026-11-05 10:00", imp, "u2", promotion_id="p2"),
        event("r5", "2026-11-05 20:00", "promo_redeem", "u2", promotion_id="p2"),
        # younger than the window at the end of the run date: left out
        event("i6", "2026-11-10 08:00", imp, "u3", promotion_id="p1"),
        # window closes at 23:00 on the run date, before the cutoff: kept, no response
        event("i7", "2026-11-09 23:00", imp, "u3", promotion_id="p2"),
        # anonymous impression: cannot be attributed
        event("i8", "2026-11-05 10:00", imp, None, promotion_id="p1"),
        # a click on another promotion does not count
        event("i9", "2026-11-05 10:00", imp, "u4", promotion_id="p2"),
        event("c9", "2026-11-05 10:30", "promo_click", "u4", promotion_id="p1"),
        # a click in the same instant as the impression counts
        event("i10", "2026-11-06 10:00", imp, "u5", promotion_id="p1"),
        event("c10", "2026-11-06 10:00", "promo_click", "u5", promotion_id="p1"),
        # before the training window's first date: not a training row
        event("i11", "2026-10-20 10:00", imp, "u5", promotion_id="p1"),
    ]


def _expected(spark, rows):
    return spark.createDataFrame(
        [(i, u, p, ts(t), ts(t).date(), pos, 0.5, label, None if r is None else ts(r))
         for i, u, p, t, pos, label, r in rows], LABELS)


def test_labels_attribution_window_and_delayed_feedback(spark):
    out_df = build_labels(frame(spark, "events", _rows()), RUN_DATE, ("promo_click", "promo_redeem"),
                          24, dt.date(2026, 11, 1))
    expected_df = _expected(spark, [
        ("i1", "u1", "p1", "2026-11-05 10:00", 1, 1, "2026-11-05 12:00"),
        ("i2", "u1", "p1", "2026-11-06 10:00", 1, 0, None),
        ("i3", "u2", "p1", "2026-11-05 09:00", 1, 0, None),
        ("i4", "u2", "p1", "2026-11-05 10:00", 3, 1, "2026-11-05 10:30"),
        ("i5", "u2", "p2", "2026-11-05 10:00", 1, 1, "2026-11-05 20:00"),
        ("i7", "u3", "p2", "2026-11-09 23:00", 1, 0, None),
        ("i9", "u4", "p2", "2026-11-05 10:00", 1, 0, None),
        ("i10", "u5", "p1", "2026-11-06 10:00", 1, 1, "2026-11-06 10:00"),
    ])
    assert_df_equality(out_df, expected_df, ignore_row_order=True, ignore_nullable=True)


def test_labels_clicks_only(spark):
    out_df = build_labels(frame(spark, "events", _rows()), RUN_DATE, ("promo_click",), 24,
                          dt.date(2026, 11, 5))
    expected_df = _expected(spark, [
        ("i1", "u1", "p1", "2026-11-05 10:00", 1, 1, "2026-11-05 12:00"),
        ("i2", "u1", "p1", "2026-11-06 10:00", 1, 0, None),
        ("i3", "u2", "p1", "2026-11-05 09:00", 1, 0, None),
        ("i4", "u2", "p1", "2026-11-05 10:00", 3, 1, "2026-11-05 10:30"),
        ("i5", "u2", "p2", "2026-11-05 10:00", 1, 0, None),
        ("i7", "u3", "p2", "2026-11-09 23:00", 1, 0, None),
        ("i9", "u4", "p2", "2026-11-05 10:00", 1, 0, None),
        ("i10", "u5", "p1", "2026-11-06 10:00", 1, 1, "2026-11-06 10:00"),
    ])
    assert_df_equality(out_df, expected_df, ignore_row_order=True, ignore_nullable=True)
