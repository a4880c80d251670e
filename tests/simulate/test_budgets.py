"""The simulated shop enforces promotion budgets: redemptions past the budget are refused and
logged, by hand on inline rows and on a tiny world with budgets of 5 redemptions."""
from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from recsys_spark.simulate import read_truth, respond
from recsys_spark.simulate.budgets import ledger_rows, redeem_attempts
from recsys_spark.simulate.testing import write_tiny_world

D1, D2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)
EVENTS_DDL = ("event_id string, event_key long, event_ms long, gen_date date, event_type string, "
              "user_id string, promotion_id string")


@pytest.mark.unit
def test_redeem_attempts_refuse_past_the_budget_in_event_time_order(spark):
    # pa: budget 3, 1 spent before -> its first 2 attempts of this call fit, the 3rd is refused;
    #     two attempts at the same ms are ordered by event key (k2 before k3).
    # pb: no budget (unlimited) -> never refused. pc: budget 1 already spent -> refused.
    # A click and a redemption without a promotion are not attempts.
    events_df = spark.createDataFrame([
        ("e1", 5, 1_000, D1, "promo_redeem", "u1", "pa"),
        ("e2", 2, 3_000, D2, "promo_redeem", "u2", "pa"),
        ("e3", 3, 3_000, D2, "promo_redeem", "u3", "pa"),
        ("e4", 1, 2_000, D1, "promo_redeem", "u1", "pb"),
        ("e5", 9, 500, D1, "promo_redeem", "u4", "pc"),
        ("e6", 8, 400, D1, "promo_click", "u4", "pc"),
        ("e7", 7, 400, D1, "promo_redeem", "u4", None),
    ], EVENTS_DDL)
    budgets_df = spark.createDataFrame([("pa", 3), ("pb", None), ("pc", 1)],
                                       "promotion_id string, budget long")
    spent_df = spark.createDataFrame([("pa", 1), ("pc", 1)], "promotion_id string, spent long")
    attempts_df = redeem_attempts(events_df, budgets_df, spent_df)
    def ts(seconds: float) -> dt.datetime:  # the session time zone is UTC
        return dt.datetime(1970, 1, 1) + dt.timedelta(seconds=seconds)

    expected = spark.createDataFrame([
        ("e1", "u1", "pa", ts(1.0), D1, 3, 1, 1, False),
        ("e2", "u2", "pa", ts(3.0), D2, 3, 1, 2, False),
        ("e3", "u3", "pa", ts(3.0), D2, 3, 1, 3, True),
        ("e4", "u1", "pb", ts(2.0), D1, None, 0, 1, False),
        ("e5", "u4", "pc", ts(0.5), D1, 1, 1, 1, True),
    ], "event_id string, user_id string, promotion_id string, event_time timestamp, gen_date date, "
       "budget long, spent_before long, attempt long, is_refused boolean")
    assertDataFrameEqual(attempts_df, expected)
    assertDataFrameEqual(ledger_rows(attempts_df), spark.createDataFrame([
        ("pa", 3, 1, 1, 0, D1), ("pa", 3, 2, 1, 1, D2), ("pb", None, 1, 1, 0, D1),
        ("pc", 1, 1, 0, 1, D1)],
        "promotion_id string, budget long, attempted long, accepted long, refused long, gen_date date"))


def _landing_redeem_ids(landing: Path) -> set[str]:
    ids = set()
    for path in (landing / "events").rglob("*.jsonl.gz"):
        for line in gzip.decompress(path.read_bytes()).splitlines():
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(obj, dict) and obj.get("event_type") == "promo_redeem":
                ids.add(obj.get("event_id"))
    return ids


@pytest.mark.stage
def test_a_tiny_world_never_spends_past_a_budget_and_logs_every_refusal(spark, tmp_path):
    # Budgets of 5 redemptions (tiny's floor of 100 x 0.05): the uniform-random warm-up days
    # already exhaust some; the closed-loop day then shows two promotions to every user.
    world = write_tiny_world(spark, tmp_path / "landing", days=2, promo_budget_scale=0.05)
    root = world.landing_root
    run_date = world.start_date + dt.timedelta(days=1)
    plan = [(f"u{i:07d}", rank, promo, 0.5, run_date, "test")
            for i in range(world.config.n_users) for rank, promo in ((1, "p0000"), (2, "p0002"))]
    up_df = spark.createDataFrame(plan, "user_id string, rank int, promotion_id string, "
                                        "propensity double, run_date date, policy string")
    summary = respond(spark, world.config, root, up_df, run_date, world.seed)

    redeems_df = (read_truth(spark, root, "true_events").filter(F.col("event_type") == "promo_redeem")
                  .groupBy("promotion_id").agg(F.count(F.lit(1)).cast("long").alias("accepted")))
    ledger_df = read_truth(spark, root, "budget_ledger")
    per_promo_df = ledger_df.groupBy("promotion_id", "budget").agg(
        F.sum("accepted").alias("accepted"), F.sum("refused").alias("refused"))
    # The ledger's accepted redemptions are exactly those in the true events, never past 5...
    assertDataFrameEqual(per_promo_df.select("promotion_id", "accepted"), redeems_df)
    rows = per_promo_df.collect()
    assert all(r["budget"] == 5 and r["accepted"] <= 5 for r in rows), rows
    # ...a promotion with a refusal spent its whole budget, and refusals happened on both calls.
    assert all(r["accepted"] == 5 for r in rows if r["refused"]), rows
    refused_df = read_truth(spark, root, "refused_redeems")
    assert refused_df.count() == sum(r["refused"] for r in rows) > 0
    assert summary.refused_redeems == ledger_df.filter(F.col("gen_date") == run_date + dt.timedelta(days=1)
                                                       ).agg(F.sum("refused")).first()[0] > 0
    # Each refusal came after the promotion's budget was gone: spent_before + attempt > budget.
    assert refused_df.filter(F.col("spent_before") + F.col("attempt") <= F.col("budget")).count() == 0
    # A refused redemption is in no landing file; every accepted one of a clean line is.
    refused_ids = {r["event_id"] for r in refused_df.select("event_id").collect()}
    landed = _landing_redeem_ids(Path(root))
    assert not refused_ids & landed
