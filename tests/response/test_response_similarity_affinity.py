"""sim_affinity (response/similarity_affinity.py): hand-computed values, the point-in-time
snapshot choice, the leakage guard, and the coverage rule."""
from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_approx_df_equality

from recsys_spark.response.feature_set import (
    FeatureSpec,
    OptionalInputs,
    build_features,
    with_optional_features,
)
from recsys_spark.response.labels import cutoff_timestamp
from recsys_spark.response.training_features import with_promotion_features
from tests.factories import event, frame, nullable_schema, promotion, ts

pytestmark = pytest.mark.unit

T0 = "2026-11-05 12:00"
LABEL_EVENTS = ("promo_click", "promo_redeem")
RECENT = 3   # N: the last 3 item interactions


def _promotions(spark):
    live = {"start": "2026-10-01", "end": "2026-12-31", "budget": 1000}
    return frame(spark, "promotions", [promotion("p1", eligible_categories=["electronics"], **live),
                                       promotion("p2", promo_type="free_shipping", **live),
                                       promotion("p3", eligible_categories=["fashion", "home"], **live)])


def _past():
    """Everything strictly before T0. u1's last 3 item events: i3, i2, i5 (i1 is the 4th)."""
    return [
        event("n1", "2026-10-20 09:00", "view", "u9", item_id="i1", category="electronics.audio"),
        event("n6", "2026-10-25 09:00", "view", "u9", item_id="i6", category="electronics.phone"),
        event("n7", "2026-10-25 09:05", "view", "u9", item_id="i7", category="fashion.bags"),
        event("e1", "2026-11-01 09:00", "view", "u1", item_id="i1", category="electronics.audio"),
        event("e2", "2026-11-02 09:00", "view", "u1", item_id="i2", category="fashion.shoes"),
        event("e3", "2026-11-03 12:00", "purchase", "u1", item_id="i3", category="electronics.tv",
              price=10.0, quantity=1),
        event("e4", "2026-11-04 09:00", "view", "u1", item_id="i2", category="fashion.shoes"),
        event("ei", "2026-11-04 09:30", "promo_impression", "u1", promotion_id="p1"),  # no item
        event("e5", "2026-11-04 10:00", "click", "u1", item_id="i5", category="home.x"),
        # i8 is first seen after the 11-03 snapshot: its category is unknown to that snapshot.
        event("n8", "2026-11-04 12:00", "view", "u9", item_id="i8", category="home.kitchen"),
    ]


def _present_and_future():
    """At T0 or later: none may change the T0 probes."""
    return [
        event("b1", T0, "view", "u1", item_id="i4", category="electronics.cameras"),
        event("b2", "2026-11-05 18:00", "view", "u1", item_id="i6", category="electronics.phone"),
        event("b3", "2026-11-06 00:00", "view", "u1", item_id="i3", category="electronics.tv"),
        event("b4", "2026-11-06 09:00", "view", "u2", item_id="i1", category="electronics.audio"),
        event("b9", "2026-11-06 10:00", "view", "u9", item_id="i9", category="home.x"),
    ]


def _similarity(spark, with_later: bool):
    def rows(day, pairs):
        return [(i, j, s, 1, 2, "cosine", "sim-run", dt.date.fromisoformat(day)) for i, j, s in pairs]
    data = rows("2026-11-03", [("i3", "i6", 0.8), ("i3", "i7", 0.3), ("i3", "i8", 0.5),
                               ("i2", "i7", 0.6), ("i2", "i1", 0.4), ("i5", "i9", 0.9),
                               ("i1", "i6", 0.95)])
    if with_later:
        # 11-05 is the probe's own day (too late for T0) but the scoring snapshot of run date 11-05.
        data += rows("2026-11-05", [("i3", "i6", 1.0), ("i2", "i7", 0.5), ("i5", "i9", 0.2),
                                    ("i4", "i6", 0.7)])
        data += rows("2026-11-06", [("i2", "i1", 1.0), ("i5", "i8", 1.0)])
    return spark.createDataFrame(data, nullable_schema("item_similarity"))


def _probes(spark, with_scoring: bool):
    t0, day = ts(T0), dt.date(2026, 11, 5)
    rows = [("x1", "u1", "p1", t0, day, 1), ("x2", "u1", "p2", t0, day, 1),
            ("x3", "u1", "p3", t0, day, 1), ("x4", "u2", "p1", t0, day, 1),
            ("x5", "u1", "p2", ts("2026-11-02 12:00"), dt.date(2026, 11, 2), 1)]
    if with_scoring:
        # How score_pairs probes run date 11-05: the first instant after it.
        end = cutoff_timestamp(day)
        rows += [("x6", "u1", "p2", end, day, 1), ("x7", "u1", "p1", end, day, 1)]
    return spark.createDataFrame(rows, "probe_id string, user_id string, promotion_id string, "
                                       "probe_time timestamp, probe_date date, position int")


# At T0: R = {i3, i2, i5}, snapshot 11-03.
#  p1 (electronics): i3 -> i6 0.8 (i8's category unknown), i2 -> i1 0.4, i5 -> nothing: 1.2 / 3
#  p2 (every item):  i3 -> 0.8, i2 -> 0.6, i5 -> i9 0.9 (category not needed):      2.3 / 3
#  p3 (fashion, home): i3 -> i7 0.3 (i8 unknown yet), i2 -> i7 0.6, i5 -> 0:          0.9 / 3
# x4: u2 has no item events; x5: no snapshot before 11-02.
EXPECTED = [("x1", 1.2 / 3, 1.0), ("x2", 2.3 / 3, 1.0), ("x3", 0.9 / 3, 1.0), ("x4", 0.0, 1.0),
            ("x5", 0.0, 0.0)]
# At the end of 11-05 (scoring): R = {i5, i4, i6} (b1 at T0 and b2 count, b3 at 11-06 00:00
# does not), snapshot 11-05: p2: (i5 -> i9 0.2 + i4 -> i6 0.7 + i6 -> nothing) / 3;
# p1: only i4 -> i6 (electronics) 0.7, / 3.
EXPECTED_SCORING = [("x6", 0.9 / 3, 1.0), ("x7", 0.7 / 3, 1.0)]


def _affinity(spark, events, with_later: bool):
    """The similarity columns alone (the event features are tested elsewhere)."""
    probes_df = with_promotion_features(_probes(spark, with_later), _promotions(spark))
    return with_optional_features(probes_df, OptionalInputs(item_similarity=_similarity(spark, with_later)),
                                  FeatureSpec(use_similarity=True), frame(spark, "events", events), RECENT)


def test_similarity_affinity_by_hand_point_in_time_and_no_leakage(spark):
    columns = ["probe_id", "sim_affinity", "sim_present"]
    past_df = _affinity(spark, _past(), with_later=False)
    assert_approx_df_equality(past_df.select(*columns).orderBy("probe_id"),
                              spark.createDataFrame(EXPECTED, columns), 1e-9, ignore_nullable=True)
    # The leakage guard: interactions at or after T0 and later snapshots leave x1..x5 unchanged;
    # the scoring-instant probes see the run date's snapshot and the whole run date.
    all_df = _affinity(spark, _past() + _present_and_future(), with_later=True)
    assert_approx_df_equality(all_df.select(*columns).orderBy("probe_id"),
                              spark.createDataFrame(EXPECTED + EXPECTED_SCORING, columns), 1e-9,
                              ignore_nullable=True)


@pytest.mark.parametrize(("min_coverage", "used"), [(0.8, True), (0.9, False)])
def test_similarity_used_only_with_enough_coverage(spark, min_coverage, used):
    # 4 of the 5 training probes (all but x5) find a snapshot dated before their day.
    out_df, spec, shares = build_features(
        _probes(spark, False), frame(spark, "events", _past()), _promotions(spark),
        OptionalInputs(item_similarity=_similarity(spark, False)), LABEL_EVENTS, lookback_days=90,
        min_coverage=min_coverage, recent_events=RECENT)
    assert shares == {"item_similarity": pytest.approx(4 / 5)}
    assert spec.use_similarity is used
    assert spec.sources == (("item_similarity",) if used else ())
    assert ("sim_affinity" in out_df.columns) is used
