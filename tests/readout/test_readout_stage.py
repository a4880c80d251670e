"""The readout stage on a hand-made warehouse: whole per-user outcomes and readout rows."""
from __future__ import annotations

import datetime as dt
import math

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from recsys_spark.readout.measure import experiment_users, user_outcomes
from recsys_spark.readout.stage import run_readout
from recsys_spark.runs import RunContext
from recsys_spark.settings.bandit import BanditConfig
from recsys_spark.tables import TableStore
from tests.factories import event, frame, make_config, promotion, row, segment, write_rows

pytestmark = pytest.mark.stage

RUN_DATE = dt.date(2026, 11, 10)
Z95 = 1.959963984540054


def plan(user: str, day: str, promo: str | None, rank: int = 1) -> dict:
    return row("user_promotions", user_id=user, rank=0 if promo is None else rank, promotion_id=promo,
               policy="thompson", propensity=1.0 if promo is None else 0.5, is_exploration=False,
               is_holdout=promo is None, run_id=f"r{day}", run_date=dt.date.fromisoformat(day))


# Window of 3 days ending 11-10: plans of run dates 11-07..11-09, events of 11-08..11-10.
PLANS = [plan("u1", "2026-11-08", "pA"), plan("u1", "2026-11-08", "pB", 2), plan("u2", "2026-11-08", "pA"),
         plan("u3", "2026-11-08", None), plan("u4", "2026-11-08", None), plan("u5", "2026-11-08", None),
         plan("u5", "2026-11-09", "pB"),            # in both groups: left out
         plan("u6", "2026-11-09", "pB"),
         plan("u7", "2026-11-10", "pA"),            # planned on the run date: served after it
         plan("u8", "2026-11-06", None)]            # before the window
EVENTS = [event(1, "2026-11-08", "promo_redeem", "u1", promotion_id="pA"),
          event(2, "2026-11-09", "promo_redeem", "u1", promotion_id="pA"),
          event(3, "2026-11-09", "purchase", "u1", promotion_id="pA", price=10.0, quantity=2),
          event(4, "2026-11-07", "purchase", "u1", price=100.0, quantity=1),   # before the window
          event(5, "2026-11-10", "promo_redeem", "u2", promotion_id="pB"),
          event(6, "2026-11-10", "purchase", "u2", price=5.0, quantity=1),
          event(7, "2026-11-09", "purchase", "u3", price=8.0, quantity=1),
          event(8, "2026-11-09", "promo_redeem", "u5", promotion_id="pB"),
          event(9, "2026-11-10", "purchase", "u7", price=3.0, quantity=1),
          event(10, "2026-11-09", "view", "u4", item_id="i1", category="books.classic")]
PROMOTIONS = [promotion("pA"), promotion("pB", promo_type="coupon", budget=10)]
SEGMENTS = [segment(u, s, run_date="2026-11-09") for u, s in (("u1", "s0"), ("u2", "s1"), ("u3", "s0"),
                                                             ("u4", "s1"))]
SEGMENTS.append(segment("u1", "s9", run_date="2026-11-01"))   # an older run: not read


@pytest.fixture(scope="module")
def warehouse(spark, tmp_path_factory):
    config = make_config(tmp_path_factory.mktemp("readout"),
                         bandit=BanditConfig(holdout_share=0.4, readout_window_days=3))
    store = TableStore(spark, config.warehouse)
    for table, rows in (("user_promotions", PLANS), ("events", EVENTS), ("promotions", PROMOTIONS),
                        ("user_segments", SEGMENTS)):
        write_rows(spark, store, table, rows)
    return config, store


def test_user_outcomes_per_dimension(spark):
    plans_df = frame(spark, "user_promotions", PLANS).filter(
        F.col("run_date").between(dt.date(2026, 11, 7), dt.date(2026, 11, 9)))
    events_df = frame(spark, "events", EVENTS).filter(F.col("event_date") >= dt.date(2026, 11, 8))
    segments_df = frame(spark, "user_segments", SEGMENTS).filter(F.col("run_date") == dt.date(2026, 11, 9))
    out_df = user_outcomes(experiment_users(plans_df), events_df, frame(spark, "promotions", PROMOTIONS),
                           segments_df)
    values = {"u1": (1, 2, 20.0), "u2": (1, 1, 5.0), "u3": (0, 0, 8.0), "u4": (0, 0, 0.0), "u6": (0, 0, 0.0)}
    groups = {"u1": "treated", "u2": "treated", "u3": "control", "u4": "control", "u6": "treated"}
    segments = {"u1": "s0", "u2": "s1", "u3": "s0", "u4": "s1", "u6": "unknown"}
    by_type = {("u1", "percent_off"): (1, 2, 20.0), ("u2", "coupon"): (1, 1, 0.0)}
    expected = ([("all", "all", u, groups[u], *v) for u, v in values.items()]
                + [("segment", segments[u], u, groups[u], *v) for u, v in values.items()]
                + [("promo_type", t, u, groups[u], *by_type.get((u, t), (0, 0, 0.0)))
                   for u in values for t in ("coupon", "percent_off")])
    assertDataFrameEqual(out_df, spark.createDataFrame(
        expected, "dimension string, dim_value string, user_id string, group string, responded long, "
                  "redemptions long, revenue double"))


def test_readout_rows_of_the_stage(spark, warehouse):
    config, store = warehouse
    report = run_readout(spark, store, RunContext(config, RUN_DATE, "readout"))
    got_df = store.read("ab_readout").select(
        "dimension", "dim_value", "metric", "control_users", "treated_users", "uplift", "ci_low",
        "ci_high", "incremental", "srm_flag")

    def est(uplift: float, se: float, control: int = 2, treated: int = 3) -> tuple:
        return (control, treated, uplift, uplift - Z95 * se, uplift + Z95 * se, uplift * treated, False)

    # Treated u1, u2, u6 against control u3, u4 (see test_user_outcomes_per_dimension); each
    # group's sample variance by hand, se = sqrt(s_t^2 / 3 + s_c^2 / 2).
    revenue_se = (32 / 2 + (425 - 625 / 3) / 2 / 3) ** 0.5
    none = (None, None, None, None, None)
    expected = [
        ("all", "all", "response_rate", *est(2 / 3, 1 / 3)),
        ("all", "all", "redemptions_per_user", *est(1.0, (1 / 3) ** 0.5)),
        ("all", "all", "revenue_per_user", *est(25 / 3 - 4, revenue_se)),
        # A segment with one user in a group has no estimate; u6 has no segment.
        *[("segment", s, m, c, t, *none) for s, c, t in (("s0", 1, 1), ("s1", 1, 1), ("unknown", 0, 1))
          for m in ("response_rate", "redemptions_per_user", "revenue_per_user")],
        ("promo_type", "coupon", "response_rate", *est(1 / 3, 1 / 3)),
        ("promo_type", "coupon", "redemptions_per_user", *est(1 / 3, 1 / 3)),
        ("promo_type", "coupon", "revenue_per_user", *est(0.0, 0.0)),
        ("promo_type", "percent_off", "response_rate", *est(1 / 3, 1 / 3)),
        ("promo_type", "percent_off", "redemptions_per_user", *est(2 / 3, 2 / 3)),
        ("promo_type", "percent_off", "revenue_per_user", *est(20 / 3, 20 / 3)),
    ]
    # The segment rows' SRM: s0 and s1 have 1 of 2 in control (share 0.4: not flagged); unknown
    # has 0 of 1.
    expected = [e if e[0] != "segment" else (*e[:-1], False) for e in expected]
    assertDataFrameEqual(got_df, spark.createDataFrame(
        expected, "dimension string, dim_value string, metric string, control_users long, "
                  "treated_users long, uplift double, ci_low double, ci_high double, incremental double, "
                  "srm_flag boolean"), rtol=1e-9)
    assert report.metrics["control_users"] == 2 and report.metrics["treated_users"] == 3
    assert report.quality == {"sample_ratio": "pass"}


def test_policy_monitor_of_the_run_dates_plan(spark, warehouse):
    config, store = warehouse
    report = run_readout(spark, store, RunContext(config, RUN_DATE, "readout"))
    got_df = store.read("policy_monitor").select("metric", "key", "value", "threshold", "flagged")
    # The plan of 11-10 is u7's pA (not exploration); the previous plan (11-09) is all pB, so
    # PSI = 2 x (1 - 1e-4) x ln(1 / 1e-4). pB (budget 10) was redeemed twice in the 3 days (u5,
    # u2): 2/3 a day, 1/15 of its budget, 8 left = 12 days. No impressions: nobody at the cap.
    # No promotion_scores and no model_metrics: no calibration figures.
    psi = 2 * (1 - 1e-4) * math.log(1e4)
    expected = [("budget_burn_rate", "pB", 1 / 15, 0.2, False),
                ("days_of_budget_left", "pB", 12.0, None, None),
                ("ece_at_training", "all", None, None, None), ("ece_drift", "all", None, 0.05, None),
                ("ece_live", "all", None, None, None), ("exploration_rate", "all", 0.0, 0.5, False),
                ("frequency_cap_share", "all", 0.0, 0.5, False),
                ("promotion_mix_psi", "all", psi, 0.25, True),
                ("promotion_share", "pA", 1.0, None, None)]
    assertDataFrameEqual(got_df, spark.createDataFrame(
        expected, "metric string, key string, value double, threshold double, flagged boolean"), rtol=1e-9)
    assert report.metrics["monitor_flags"] == 1
    assert report.notes["policy_monitor"].startswith("flagged: promotion_mix_psi[all] 18.42 > 0.25")
