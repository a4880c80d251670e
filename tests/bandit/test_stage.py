"""The bandit stage on tiny inline inputs in a tmp warehouse: constraints, holdout, determinism,
budget fallback, and Thompson propensities against empirical frequencies."""
from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from recsys_spark.bandit.arms import arm_statistics
from recsys_spark.bandit.candidates import build_candidates
from recsys_spark.bandit.choose import choose_promotions
from recsys_spark.bandit.constraints import allocate_budget, visit_probabilities
from recsys_spark.bandit.policies import select_slots, thompson_draw
from recsys_spark.bandit.propensity import thompson_propensity
from recsys_spark.bandit.stage import run_bandit
from recsys_spark.domain.promotions import servable_promotions
from recsys_spark.runs import RunContext
from recsys_spark.settings.bandit import BanditConfig
from recsys_spark.stage_runner import run_stage
from recsys_spark.tables import TableStore
from tests.bandit.data import RUN_DATE, UTC, scores_rows, segments_rows
from tests.factories import event, make_config, promotion, write_rows
from tests.interference import CommitsBeforeTheFirstWrite

USERS = ["u1", "u2", "u3", "u4", "u5", "u6", "u7"]
PROMOS = ["p1", "p2", "p3", "p4", "p5", "p6"]


# P(visit) of the users of _inputs, by hand: 4 observed days (Nov 15, 17, 18, 19), active days
# u1 1, u2 3, u4 1, the others 0; population rate r = 5 / (7 * 4) = 5/28; k = 2 pseudo-days:
# p = (days + 2 * 5/28) / (4 + 2) = (days + 5/14) / 6.
P_VISIT = {"u1": 19 / 84, "u2": 47 / 84, "u4": 19 / 84, "u3": 5 / 84, "u5": 5 / 84, "u6": 5 / 84,
           "u7": 5 / 84}


def _t(d: int, h: int) -> dt.datetime:
    return dt.datetime(2026, 11, d, h, tzinfo=UTC)


def _inputs(spark, store):
    events = [event("e1", _t(18, 10), "promo_impression", "u1", promotion_id="p1"),
              event("e2", _t(18, 12), "promo_redeem", "u1", promotion_id="p1"),
              event("e3", _t(19, 10), "promo_impression", "u4", promotion_id="p2"),
              event("e4", _t(15, 10), "promo_redeem", "u9", promotion_id="p6"),       # p6 budget 2: exhausted
              event("e5", _t(15, 11), "promo_redeem", "u8", promotion_id="p6")]
    events += [event(f"f{i}", _t(17 + i, 9), "promo_impression", "u2", promotion_id="p2")
               for i in range(3)]
    write_rows(spark, store, "events", events)
    write_rows(spark, store, "promotions", [
        promotion("p1", promo_type="percent_off", budget=1000),
        promotion("p2", promo_type="percent_off", budget=1000),
        promotion("p3", promo_type="coupon", budget=1), promotion("p4", promo_type="gift", budget=1000),
        promotion("p5", promo_type="free_shipping", budget=1000, end=dt.date(2026, 11, 10)),   # ended
        promotion("p6", promo_type="gift", budget=2)])
    scores = {(u, p): round(0.05 + 0.1 * i + 0.02 * j, 4)
              for i, u in enumerate(USERS) for j, p in enumerate(PROMOS)}
    write_rows(spark, store, "promotion_scores", scores_rows(scores))
    write_rows(spark, store, "user_segments", segments_rows(
        {"u1": "s0", "u2": "s0", "u3": "s0", "u4": "s1", "u5": "s1", "u7": "s1"}))


@pytest.mark.stage
def test_stage_output_holds_every_constraint_and_is_partition_independent(spark, tmp_path):
    config = make_config(tmp_path, bandit=BanditConfig(policy="thompson", holdout_share=0.4,
                                                       slots_per_user=3, propensity_draws=50))
    store = TableStore(spark, config.warehouse)
    _inputs(spark, store)
    ctx = RunContext(config, RUN_DATE, "bandit")
    report = run_stage(spark, store, ctx, run_bandit)
    assert set(report.quality.values()) == {"pass"}
    # events on Nov 15, 17, 18, 19 lie in the 14-day visit window ending Nov 20
    assert report.metrics["visit_observed_days"] == 4.0

    out_df = store.read("user_promotions")
    rows = out_df.collect()
    assert {r["user_id"] for r in rows} == set(USERS)
    assert {r["run_id"] for r in rows} == {ctx.run_id} and {r["run_date"] for r in rows} == {RUN_DATE}
    types = {"p1": "percent_off", "p2": "percent_off", "p3": "coupon", "p4": "gift"}
    for user in USERS:
        mine = sorted((r for r in rows if r["user_id"] == user), key=lambda r: r["rank"])
        if mine[0]["is_holdout"]:
            # a holdout user: exactly one row, rank 0, no promotion, propensity 1
            assert [(r["rank"], r["promotion_id"], r["score"], r["propensity"]) for r in mine] == [
                (0, None, None, 1.0)]
            continue
        promos = [r["promotion_id"] for r in mine]
        assert [r["rank"] for r in mine] == list(range(1, len(mine) + 1)) and len(mine) <= 3
        assert set(promos) <= set(types), "only active promotions with budget left"
        assert len({types[p] for p in promos}) == len(promos), "one per promo type"
        assert [r["score"] for r in mine] == sorted((r["score"] for r in mine), reverse=True)
        assert all(0 < r["propensity"] <= 1 and not r["is_holdout"] for r in mine)
        if user == "u2":
            assert "p2" not in promos, "frequency cap: 3 impressions in 7 days"
    spent_p3 = sum(r["expected_response"] * P_VISIT[r["user_id"]] for r in rows if r["promotion_id"] == "p3")
    assert spent_p3 <= 1.0 + 1e-9, "budget of p3 (expected redemptions = response x P(visit))"
    assert sum(r["is_holdout"] for r in rows) >= 1

    # The same seed on repartitioned inputs gives the same table.
    events_df = store.read("events").repartition(5)
    scores_df = store.read("promotion_scores").select("user_id", "promotion_id", "p_response").repartition(4)
    segments_df = store.read("user_segments").select("user_id", "segment_id").repartition(3)
    bcfg = config.bandit
    arms_df, _ = arm_statistics(events_df, scores_df, segments_df, RUN_DATE, bcfg)
    eligible_df = servable_promotions(store.read("promotions").repartition(3), events_df, RUN_DATE
                                      ).select("promotion_id", "promo_type", "remaining_budget")
    visits_df = visit_probabilities(scores_df, events_df, 4, bcfg)
    cands_df = build_candidates(scores_df, segments_df, arms_df, eligible_df, events_df, visits_df,
                                RUN_DATE, bcfg)
    again_df = choose_promotions(spark, cands_df, scores_df, bcfg, "thompson", ctx.seed("draws"),
                                 config.run.seed, RUN_DATE)
    cols = ["user_id", "rank", "promotion_id", "policy", "score", "expected_response", "propensity",
            "is_exploration", "is_holdout"]
    assert_df_equality(again_df.select(*cols), out_df.select(*cols), ignore_row_order=True,
                       ignore_nullable=True)


@pytest.mark.unit
def test_budget_allocation_falls_back_to_next_candidate(spark):
    # p1 has room for one expected redemption: u_a (score 0.9) takes it, u_b (0.8) and u_c (0.7)
    # lose it and fall back to p2 in round 2; p2 fits both.
    config = BanditConfig(slots_per_user=1, allocation_rounds=2)
    df = spark.createDataFrame([
        ("ua", "p1", "t1", 0.9, 0.9, 0.6, 1.0), ("ua", "p2", "t2", 0.5, 0.5, 0.1, 10.0),
        ("ub", "p1", "t1", 0.8, 0.8, 0.6, 1.0), ("ub", "p2", "t2", 0.4, 0.4, 0.1, 10.0),
        ("uc", "p1", "t1", 0.7, 0.7, 0.3, 1.0), ("uc", "p2", "t2", 0.3, 0.3, 0.1, 10.0),
    ], "user_id string, promotion_id string, promo_type string, score double, type_score double, "
       "expected_redemptions double, remaining_budget double")
    out = {(r["user_id"], r["promotion_id"]): r["status"] for r in allocate_budget(df, config).collect()}
    assert out == {("ua", "p1"): "assigned", ("ua", "p2"): "open",
                   ("ub", "p1"): "rejected", ("ub", "p2"): "assigned",
                   ("uc", "p1"): "rejected", ("uc", "p2"): "assigned"}


@pytest.mark.unit
def test_visit_probabilities_by_hand(spark):
    # 4 observed days; a active on 2 of them, b on 4, c never (no events), d not scored.
    # r = (2 + 4 + 0) / 3 / 4 = 0.5; k = 2: p = (days + 1) / 6.
    users_df = spark.createDataFrame([("a",), ("b",), ("c",), ("a",)], "user_id string")
    events_df = spark.createDataFrame(
        [("a", dt.date(2026, 11, d)) for d in (1, 1, 3)] + [("b", dt.date(2026, 11, d)) for d in (1, 2, 3, 4)]
        + [("d", dt.date(2026, 11, 2)), (None, dt.date(2026, 11, 2))], "user_id string, event_date date")
    config = BanditConfig(visit_window_days=14, visit_prior_days=2.0)
    got = {r["user_id"]: r["p_visit"] for r in visit_probabilities(users_df, events_df, 4, config).collect()}
    assert got == pytest.approx({"a": 3 / 6, "b": 5 / 6, "c": 1 / 6})
    # Discount off, or no history at all: everyone counts as visiting.
    for days, cfg in ((4, BanditConfig(visit_window_days=0)), (0, config)):
        rows = visit_probabilities(users_df, events_df, days, cfg).collect()
        assert {r["user_id"]: r["p_visit"] for r in rows} == {"a": 1.0, "b": 1.0, "c": 1.0}


@pytest.mark.unit
def test_thompson_propensities_match_empirical_frequencies(spark):
    # Propensities from K = 2000 Monte Carlo draws (seed 99) against the live draw's slot
    # frequencies over S = 2000 other seeds. Both are binomial estimates (sd <= 0.011 each), so
    # a tolerance of 0.05 is > 3 sd of their difference.
    config = BanditConfig(slots_per_user=2, one_per_promo_type=True, propensity_max_candidates=4)
    pool_df = spark.createDataFrame([
        ("u1", "a", "t1", 1.0, 3.0, 7.0), ("u1", "b", "t1", 1.0, 2.0, 8.0),
        ("u1", "c", "t2", 1.2, 4.0, 6.0), ("u1", "d", "t3", 0.8, 1.0, 3.0),
    ], "user_id string, promotion_id string, promo_type string, lift double, alpha double, beta double")
    pool_df = pool_df.withColumn("posterior_mean", F.col("alpha") / (F.col("alpha") + F.col("beta")))
    mc = {(r["promotion_id"], r["slot"]): r["propensity"] for r in thompson_propensity(
        pool_df, pool_df.limit(0), config, seed=99, run_date="2026-11-20", draws=2000).collect()}
    seeds = 2000
    live_df = (pool_df.crossJoin(spark.range(seeds).withColumnRenamed("id", "seed"))
               .withColumn("score", F.col("lift") * thompson_draw(F.col("seed"), "2026-11-20", F.lit(0)))
               .withColumn("type_score", F.col("score")))
    picked = select_slots(live_df, ["user_id", "seed"], 2, True).groupBy("promotion_id", "slot").count()
    emp = {(r["promotion_id"], r["slot"]): r["count"] / seeds for r in picked.collect()}
    for key in set(mc) | set(emp):
        assert abs(mc.get(key, 0.0) - emp.get(key, 0.0)) < 0.05, key
    for slot in (1, 2):
        assert sum(v for (_, s), v in mc.items() if s == slot) == pytest.approx(1.0)


@pytest.mark.stage
def test_an_unlimited_promotion_is_served_and_only_the_windows_of_events_are_read(spark, tmp_path):
    # pn has no budget (null = unlimited): it must be scored AND served. Events span 40 days;
    # the stage needs promo events since the earliest active start (Nov 11) and the 7-day visit
    # window, nothing older. Mid-run another writer adds scores of a new user: the stage serves,
    # and records, the version of promotion_scores it read.
    config = make_config(tmp_path, bandit=BanditConfig(
        policy="greedy", slots_per_user=1, one_per_promo_type=False, holdout_share=0.0, window_days=7,
        frequency_cap_days=7, visit_window_days=7, propensity_draws=20))
    store = CommitsBeforeTheFirstWrite(spark, config.warehouse)
    events = [event(f"v{i}", _t(20, 8) - dt.timedelta(days=i), "promo_impression", "u1",
                    promotion_id="pl") for i in range(40)]
    write_rows(spark, store, "events", events)
    write_rows(spark, store, "promotions", [
        promotion("pn", promo_type="gift", budget=None, start=dt.date(2026, 11, 11)),
        promotion("pl", promo_type="coupon", budget=1000, start=dt.date(2026, 11, 12))])
    scores = {(u, p): 0.3 if p == "pn" else 0.1 for u in ("u1", "u2") for p in ("pn", "pl")}
    write_rows(spark, store, "promotion_scores", scores_rows(scores))
    store.arm("promotion_scores", scores_rows({("u_late", "pn"): 0.9}))
    report = run_stage(spark, store, RunContext(config, RUN_DATE, "bandit"), run_bandit)
    served = {(r["user_id"], r["promotion_id"]) for r in store.read("user_promotions").collect()}
    assert served == {("u1", "pn"), ("u2", "pn")}
    run = store.read("pipeline_runs").first()
    assert dict(run["inputs"]) == {"events": 0, "promotions": 0, "promotion_scores": 0}
    assert store.late_version == 1
    assert report.quality["over_budget"] == report.quality["not_servable"] == "pass"
    # one file per day: Nov 11..20 for the promo events, Nov 14..20 for the visit window
    assert report.files_read["events"] == 10 + 7
