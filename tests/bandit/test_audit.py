"""The audit before publish: every hard constraint and invariant found by hand, each one stopping
the publish with its rows quarantined, and the stage's error carries exit code 3."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from recsys_spark.bandit.audit import (
    ConstraintViolationError,
    check_results,
    violation_message,
    violation_summary,
    with_violations,
)
from recsys_spark.bandit.stage import QUARANTINE_TABLE, audit_or_stop, run_bandit
from recsys_spark.errors import EXIT_QUALITY_GATE
from recsys_spark.runs import RunContext, StageReport
from recsys_spark.settings.bandit import BanditConfig
from recsys_spark.stage_io import Inputs
from recsys_spark.stage_runner import run_stage
from recsys_spark.tables import TableStore
from tests.bandit.data import RUN_DATE, UTC, scores_rows
from tests.factories import event, make_config, promotion, write_rows

OUT_DDL = ("user_id string, rank int, promotion_id string, policy string, score double, "
           "expected_response double, propensity double, is_exploration boolean, is_holdout boolean, "
           "expected_redemptions double")
SERVABLE_DDL = ("promotion_id string, promo_type string, eligible_categories array<string>, "
                "remaining_budget double")
CONFIG = BanditConfig(slots_per_user=2, one_per_promo_type=True, frequency_cap_impressions=3,
                      holdout_share=0.0)


def row(user: str, rank: int, promo: str | None, propensity: float | None = 0.5,
        er: float | None = 0.1, is_holdout: bool = False) -> tuple:
    return (user, rank, promo, "greedy", 0.2, 0.2, propensity, False, is_holdout, er)


@pytest.mark.unit
def test_every_violation_is_found_by_hand(spark):
    servable_df = spark.createDataFrame([
        ("pA", "percent_off", [], 10.0), ("pB", "percent_off", [], 10.0), ("pC", "coupon", [], None),
        ("pD", "gift", [], 10.0), ("pT", "gift", ["toys"], 10.0), ("pS", "free_shipping", [], 1.0),
    ], SERVABLE_DDL)
    out_df = spark.createDataFrame([
        row("ok", 1, "pA"), row("ok", 2, "pC"),                      # good
        row("ua", 1, "pA"), row("ua", 2, "pB"),                      # two percent_off
        row("ub", 1, "pA"), row("ub", 1, "pC"),                      # two rows in slot 1
        row("uc", 1, "pA", propensity=0.0), row("um", 1, "pC", propensity=None),
        row("un", 1, "pC", propensity=1.5),
        row("ud", 1, "pX"),                                          # not servable (ended, spent)
        row("ue", 1, "pT"),                                          # targets toys, ue reads books
        row("uf", 1, "pT"),                                          # uf has toys: fine
        row("ug", 1, "pA"),                                          # shown 3 times already
        row("uh", 0, None, propensity=1.0, er=None, is_holdout=True),  # nobody is held out
        row("ui", 1, "pS", er=0.6), row("uj", 1, "pS", er=0.6),      # 1.2 expected > 1.0 left
        row("uk", 1, "pA"), row("uk", 2, "pC"), row("uk", 3, "pD"),  # 3 slots > 2
        row("ul", 1, "pA"), row("ul", 2, "pA"),                      # the same promotion twice
    ], OUT_DDL)
    shown_df = spark.createDataFrame([("ug", "pA", 3), ("ua", "pA", 2)],
                                     "user_id string, promotion_id string, shown long")
    categories_df = spark.createDataFrame([("ue", ["books"]), ("uf", ["books", "toys"])],
                                          "user_id string, categories array<string>")
    checked_df = with_violations(out_df, servable_df, shown_df, categories_df, CONFIG, holdout_seed=7)
    reasons = {"ua": ["two_of_one_type"], "ub": ["slot_duplicate"], "uc": ["propensity_out_of_range"],
               "um": ["propensity_out_of_range"], "un": ["propensity_out_of_range"],
               "ud": ["not_servable"], "ue": ["ineligible_category"], "ug": ["frequency_cap"],
               "uh": ["holdout_treated"], "ui": ["over_budget"], "uj": ["over_budget"],
               "uk": ["too_many_slots"], "ul": ["duplicate_promotion", "two_of_one_type"]}
    expected_df = spark.createDataFrame(
        [(*r, reasons.get(r[0], [])) for r in out_df.collect()], f"{OUT_DDL}, reasons array<string>")
    assertDataFrameEqual(checked_df, expected_df)

    summary = violation_summary(checked_df)
    assert summary == {"two_of_one_type": (4, "ua/pA"), "slot_duplicate": (2, "ub/pA"),
                       "propensity_out_of_range": (3, "uc/pA"), "not_servable": (1, "ud/pX"),
                       "ineligible_category": (1, "ue/pT"), "frequency_cap": (1, "ug/pA"),
                       "holdout_treated": (1, "uh/-"), "over_budget": (2, "ui/pS"),
                       "too_many_slots": (3, "uk/pA"), "duplicate_promotion": (2, "ul/pA")}
    assert check_results(summary, True, CONFIG)["frequency_cap"] == "fail: 1 rows (e.g. ug/pA)"
    assert check_results({}, False, CONFIG) == {name: "pass" for name in (
        "slot_duplicate", "too_many_slots", "propensity_out_of_range", "duplicate_promotion",
        "two_of_one_type", "not_servable", "over_budget", "frequency_cap", "holdout_treated")}
    assert violation_message({"frequency_cap": (1, "ug/pA")}, RUN_DATE, "q") == (
        "bandit 2026-11-20: user_promotions breaks hard constraints, nothing was published: "
        "frequency_cap 1 rows (e.g. ug/pA); the rows and their reasons are in q (run_date 2026-11-20)")


@pytest.mark.unit
def test_a_treated_user_of_the_holdout_is_found(spark):
    # With seed 7, keyed_uniform(7, "holdout", user) is 0.2592 for "h1", 0.0639 for "h2" and
    # 0.8289 for "h4" (bandit/sampling.py); a share of 0.1 holds out h2 only. So h2 may only have
    # its holdout row, and h4 (treated) may not have one.
    config = BanditConfig(slots_per_user=2, holdout_share=0.1)
    servable_df = spark.createDataFrame([("pA", "percent_off", [], None)], SERVABLE_DDL)
    out_df = spark.createDataFrame([row("h1", 1, "pA"), row("h2", 1, "pA"),
                                    row("h4", 0, None, propensity=1.0, er=None, is_holdout=True)],
                                   OUT_DDL)
    shown_df = spark.createDataFrame([], "user_id string, promotion_id string, shown long")
    checked = {r["user_id"]: r["reasons"] for r in
               with_violations(out_df, servable_df, shown_df, None, config, holdout_seed=7).collect()}
    assert checked == {"h1": [], "h2": ["holdout_treated"], "h4": ["holdout_treated"]}


def _t(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, tzinfo=UTC)


def _event(eid: str, day: int, etype: str, user: str, promo: str | None = None,
           category: str | None = None) -> dict:
    return event(eid, _t(day), etype, user, promotion_id=promo, category=category,
                 item_id="i1" if category else None)


def _warehouse(spark, tmp_path, stale_scores: bool = False) -> TableStore:
    """u1 reads books, u2 toys; p1 (percent_off) is for everyone, pt (gift) targets toys. u2 was
    shown p1 three times this week. With ``stale_scores`` the scores include (u1, pt), as a
    scoring run made before pt was narrowed to toys would."""
    config = make_config(tmp_path)
    store = TableStore(spark, config.warehouse)
    events = [_event("v1", 18, "view", "u1", category="books.classic"),
              _event("v2", 18, "view", "u2", category="toys.kids")]
    events += [_event(f"i{d}", d, "promo_impression", "u2", "p1") for d in (17, 18, 19)]
    write_rows(spark, store, "events", events)
    write_rows(spark, store, "promotions", [
        promotion("p1", promo_type="percent_off", budget=1000),
        promotion("pt", promo_type="gift", budget=1000, eligible_categories=["toys"])])
    scores = {("u1", "p1"): 0.3, ("u2", "pt"): 0.4, ("u2", "p1"): 0.2}
    if stale_scores:
        scores[("u1", "pt")] = 0.5
    write_rows(spark, store, "promotion_scores", scores_rows(scores))
    return store


GOOD = [row("u1", 1, "p1"), row("u2", 1, "pt")]
# One bad row per hard constraint or invariant, added to the good rows of _warehouse's users.
BROKEN = {
    "two_of_one_type": [("u3", 1, "p1"), ("u3", 2, "p1b")],
    "frequency_cap": [("u2", 2, "p1")],
    "ineligible_category": [("u1", 2, "pt")],
    "holdout_treated": [("u4", 0, None)],
    "propensity_out_of_range": [("u3", 1, "p1", 0.0)],
    "slot_duplicate": [("u3", 1, "p1"), ("u3", 1, "pc")],
}


@pytest.fixture(scope="module")
def gate_dir(spark, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("gate")
    _warehouse(spark, folder)
    return folder


def _gate(spark, gate_dir: Path) -> tuple[TableStore, RunContext]:
    config = make_config(gate_dir, bandit=BanditConfig(slots_per_user=2, frequency_cap_impressions=3,
                                                       holdout_share=0.0))
    return TableStore(spark, config.warehouse), RunContext(config, RUN_DATE, "bandit")


def _servable(spark):
    return spark.createDataFrame([("p1", "percent_off", [], 1000.0), ("pt", "gift", ["toys"], 1000.0),
                                  ("p1b", "percent_off", [], 1000.0), ("pc", "coupon", [], None)],
                                 SERVABLE_DDL)


@pytest.mark.stage
@pytest.mark.parametrize("constraint", sorted(BROKEN))
def test_each_broken_constraint_stops_the_publish_and_quarantines_its_rows(spark, gate_dir, constraint):
    bad = []
    for user, rank, promo, *propensity in BROKEN[constraint]:
        if promo is None:
            bad.append(row(user, rank, None, propensity=1.0, er=None, is_holdout=True))
        else:
            bad.append(row(user, rank, promo, propensity=propensity[0] if propensity else 0.5))
    store, ctx = _gate(spark, gate_dir)
    report = StageReport()
    with pytest.raises(ConstraintViolationError, match=f"nothing was published: {constraint} "):
        audit_or_stop(store, Inputs(store, ctx, report), report, spark.createDataFrame(GOOD + bad, OUT_DDL),
                      _servable(spark), store.read("events"))
    assert report.quality[constraint].startswith("fail: ")
    assert [k for k, v in report.quality.items() if v != "pass"] == [constraint]
    assert not store.exists("user_promotions") and not store.exists("bandit_arm_stats")
    quarantined = store.read(QUARANTINE_TABLE).filter(F.col("run_date") == RUN_DATE).collect()
    assert sorted((r["user_id"], r["rank"], r["promotion_id"], r["reasons"], r["run_id"])
                  for r in quarantined) == sorted(
        (b[0], b[1], b[2], [constraint], ctx.run_id) for b in bad)


@pytest.mark.stage
def test_a_passing_rerun_empties_the_quarantine_of_its_run_date(spark, gate_dir):
    store, ctx = _gate(spark, gate_dir)
    report = StageReport()
    audit_or_stop(store, Inputs(store, ctx, report), report, spark.createDataFrame(GOOD, OUT_DDL),
                  _servable(spark), store.read("events"))
    assert set(report.quality.values()) == {"pass"}
    assert store.read(QUARANTINE_TABLE).count() == 0


@pytest.mark.stage
def test_stale_scores_for_an_ineligible_pair_stop_the_stage_with_exit_code_3(spark, tmp_path):
    # The whole bandit stage, as `recsys bandit` runs it: the audit stops it before publishing.
    # (That a gate error ends the CLI and spark-submit with exit 3 is tests/foundation/test_exit_codes.py.)
    store = _warehouse(spark, tmp_path, stale_scores=True)
    config = make_config(tmp_path, bandit=BanditConfig(policy="greedy", holdout_share=0.0))
    with pytest.raises(ConstraintViolationError) as stopped:
        run_stage(spark, store, RunContext(config, RUN_DATE, "bandit"), run_bandit)
    assert stopped.value.exit_code == EXIT_QUALITY_GATE
    assert "nothing was published: ineligible_category 1 rows (e.g. u1/pt)" in str(stopped.value)
    assert not store.exists("user_promotions") and not store.exists("bandit_arm_stats")
    quarantined = store.read(QUARANTINE_TABLE).select("user_id", "promotion_id", "reasons")
    assertDataFrameEqual(quarantined, spark.createDataFrame(
        [("u1", "pt", ["ineligible_category"])],
        "user_id string, promotion_id string, reasons array<string>"))
    runs = store.read("pipeline_runs").filter(F.col("stage") == "bandit").collect()
    assert [r["status"] for r in runs] == ["failed"] and "ineligible_category" in runs[0]["error"]
