"""REES46 and Open Bandit adapters on small real-layout fixtures, through the whole stage."""
from __future__ import annotations

import csv
import datetime as dt

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from recsys_spark.clean.privacy import hmac_hex
from recsys_spark.settings.clean import PrivacyConfig
from tests.clean.helpers import read_table, run_clean, with_clean
from tests.conftest import REPO_ROOT
from tests.factories import frame, make_config

FIXTURES = REPO_ROOT / "tests" / "fixtures"
REES46_FILE = FIXTURES / "rees46" / "2019-Oct-excerpt.csv"
KEY = "a-test-key-of-32-bytes-----------"
REES46_TYPES = {"view": "view", "cart": "add_to_cart", "remove_from_cart": "remove_from_cart",
                "purchase": "purchase"}


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace(" UTC", "+00:00")).astimezone(
        dt.timezone.utc).replace(tzinfo=None)


@pytest.mark.stage
def test_rees46_adapter_with_pseudonymized_users(spark, tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_HMAC_KEY", KEY)
    config = with_clean(make_config(tmp_path), privacy=PrivacyConfig(pseudonymize_users=True))
    report = run_clean(spark, config, dt.date(2019, 10, 1), source="rees46",
                       input_path=str(REES46_FILE))

    with REES46_FILE.open() as fh:
        rows = list(csv.DictReader(fh))
    # Data lines 2..21; line 13 repeats line 12; lines 19-21 are the three defects.
    good = [r for i, r in enumerate(rows, start=2) if i <= 18 and i != 13]
    want = [(_utc(r["event_time"]), REES46_TYPES[r["event_type"]],
             hmac_hex(r["user_id"], KEY.encode()), r["user_session"], r["product_id"],
             r["category_code"] or None, r["brand"] or None, float(r["price"]),
             1 if r["event_type"] == "purchase" else None, {"category_id": r["category_id"]})
            for r in good]
    events_df = read_table(spark, config, "events").select(
        "event_time", "event_type", "user_id", "session_id", "item_id", "category", "brand",
        "price", "quantity", "extra")
    assertDataFrameEqual(events_df, spark.createDataFrame(
        want, "event_time timestamp, event_type string, user_id string, session_id string, "
              "item_id string, category string, brand string, price double, quantity int, "
              "extra map<string,string>"))
    ids = read_table(spark, config, "events").select("event_id").collect()
    assert len({r["event_id"] for r in ids}) == 16 and all(r["event_id"].startswith("r46-") for r in ids)

    quarantine_df = read_table(spark, config, "events_quarantine").select("line_number", "reasons")
    assertDataFrameEqual(quarantine_df, spark.createDataFrame(
        [(19, ["out_of_range"]), (20, ["unknown_event_type"]), (21, ["malformed_record"])],
        "line_number long, reasons array<string>"))
    m = report.metrics
    assert (m["records_in"], m["clean"], m["quarantined"], m["duplicates_in_run"]) == (20, 16, 3, 1)

    # No catalog: the items dimension is derived from the clean events (every row of an item in
    # the excerpt carries the same values, so the last seen ones are those).
    items = {r["product_id"]: (r["product_id"], r["category_code"] or None, r["brand"] or None,
                               float(r["price"]), None, "derived") for r in good}
    assertDataFrameEqual(read_table(spark, config, "items").drop("run_id"), spark.createDataFrame(
        list(items.values()), "item_id string, category string, brand string, price double, "
                              "name string, origin string"))
    assert len(items) == 13 and report.notes["derived.items"] == "from the logs"


@pytest.mark.stage
def test_obd_adapter_impressions_and_clicks(spark, tmp_path):
    config = make_config(tmp_path)
    report = run_clean(spark, config, dt.date(2019, 11, 24), source="obd",
                       input_path=str(FIXTURES / "obd"))
    want = []
    for policy in ("random", "bts"):
        with (FIXTURES / "obd" / policy / "men" / "men.csv").open() as fh:
            for r in csv.DictReader(fh):
                base = f"obd-{policy}-men-{r['']}"   # session and anonymous visitor of the row
                row = (_utc(r["timestamp"]), f"men-{r['item_id']}", int(r["position"]),
                       float(r["propensity_score"]), policy, base, base, r["user_feature_0"])
                want.append((base, "promo_impression", *row))
                if r["click"] == "1":
                    want.append((base + "-click", "promo_click", *row))
    assert len(want) == 55   # 50 impressions + 5 clicks
    events_df = read_table(spark, config, "events").select(
        "event_id", "event_type", "event_time", "promotion_id", "position", "propensity", "policy",
        "session_id", "user_id", F.col("extra")["user_feature_0"].alias("user_feature_0"))
    assertDataFrameEqual(events_df, spark.createDataFrame(
        want, "event_id string, event_type string, event_time timestamp, promotion_id string, "
              "position int, propensity double, policy string, session_id string, user_id string, "
              "user_feature_0 string"))
    assert (report.metrics["records_in"], report.metrics["input_files"]) == (55, 2)

    # Dimensions from item_context.csv (34 items of campaign men, in both policy folders): each
    # item is an arm, i.e. a promotion of the same id, always active, budget null = unlimited.
    with (FIXTURES / "obd" / "random" / "men" / "item_context.csv").open() as fh:
        arms = [f"men-{r['item_id']}" for r in csv.DictReader(fh)]
    assert len(arms) == 34
    assertDataFrameEqual(read_table(spark, config, "items").drop("run_id"), spark.createDataFrame(
        [(a, "men", None, None, None, "derived") for a in arms],
        "item_id string, category string, brand string, price double, name string, origin string"))
    assertDataFrameEqual(
        read_table(spark, config, "promotions").drop("run_id"),
        frame(spark, "promotions", [dict(promotion_id=a, origin="derived") for a in arms]).drop("run_id"))


@pytest.mark.unit
def test_fixture_attribution_is_kept():
    readme = (FIXTURES / "obd" / "README.md").read_text()
    assert "Apache License 2.0" in readme and (FIXTURES / "obd" / "LICENSE-obp-Apache-2.0.txt").is_file()
