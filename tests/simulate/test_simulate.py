"""The tiny world: determinism, honest ground truth, real signal, and the closed loop."""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import math
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from recsys_spark.simulate import SimulatorConfig, read_truth, respond
from recsys_spark.simulate.behaviour import EVENT_TYPES
from recsys_spark.simulate.dirt import REQUIRED_FIELDS
from recsys_spark.simulate.testing import write_tiny_world

pytestmark = pytest.mark.stage

PRICED = {"view", "click", "add_to_cart", "remove_from_cart", "purchase"}


def _tree_hashes(root: Path, sub: str) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / sub).rglob("*")) if p.is_file()}


def _read_lines(root: Path) -> dict[str, list[bytes]]:
    return {str(p.relative_to(root)): gzip.decompress(p.read_bytes()).splitlines()
            for p in sorted((root / "events").rglob("*.jsonl.gz"))}


def _classify(raw: bytes, folder_date: str, bots: set[str]) -> set[str]:
    """What an independent reader finds wrong with one line (per-line defect classes)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"invalid_utf8"}
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return {"malformed"}
    found = set()
    if any(obj.get(f) is None for f in REQUIRED_FIELDS):
        return {"missing_required"}
    if obj["event_type"] not in EVENT_TYPES:
        found.add("unknown_event_type")
    year = int(obj["event_time"][:4])
    if year >= 2027:
        found.add("future_timestamp")
    elif year == 1970:
        found.add("epoch_timestamp")
    elif obj["event_time"][:10] < folder_date:
        found.add("late_arrival")
    price = obj.get("price")
    if isinstance(price, str):
        found.add("wrong_type")
    elif price is not None and (price <= 0 or price >= 1e6):
        found.add("bad_price")
    if (obj.get("user_id") or obj.get("userId")) in bots:
        found.add("bot_traffic")
    return found


def _without_drift(raw: bytes) -> str:
    obj = json.loads(raw)
    obj.pop("app_version", None)
    if "userId" in obj:
        obj["user_id"] = obj.pop("userId")
    return json.dumps(obj, sort_keys=True)


def test_same_seed_same_bytes_whatever_the_partitioning(spark, tiny_world, tmp_path):
    before = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", "5")
    try:
        other = write_tiny_world(spark, tmp_path / "landing", generation_partitions=3)
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", before)
    a, b = Path(tiny_world.landing_root), Path(other.landing_root)
    for sub in ("events", "catalog"):
        hashes = _tree_hashes(a, sub)
        assert len(hashes) >= 6
        assert hashes == _tree_hashes(b, sub)


def test_every_listed_defect_is_in_the_files_and_nothing_else(spark, tiny_world):
    root = Path(tiny_world.landing_root)
    files = _read_lines(root)
    defects = read_truth(spark, tiny_world.landing_root, "defects").collect()
    bots = {r["user_id"] for r in read_truth(spark, tiny_world.landing_root, "users")
            .filter("is_bot").select("user_id").collect()}
    listed = defaultdict(set)
    for d in defects:
        if d["line"] is not None and d["defect_class"] != "duplicate":
            listed[(d["file"], d["line"])].add(d["defect_class"])
    found = {}
    for rel, lines in files.items():
        folder = rel.split("date=")[1][:10]
        for i, raw in enumerate(lines, start=1):
            classes = _classify(raw, folder, bots)
            if classes:
                found[(rel, i)] = classes
    assert found == dict(listed)
    # Duplicates: each listed copy repeats an event_id seen on another line.
    by_id = defaultdict(list)
    for rel, lines in files.items():
        for i, raw in enumerate(lines, start=1):
            if raw.startswith(b'{"event_id":"'):
                by_id[raw[13:30]].append((rel, i, raw))
    dup_rows = [d for d in defects if d["defect_class"] == "duplicate"]
    assert dup_rows
    for d in dup_rows:
        copies = by_id[d["event_id"].encode()]
        assert (d["file"], d["line"]) in {(r, i) for r, i, _ in copies}
        # Identical apart from the drift of the file each copy landed in.
        assert len({_without_drift(raw) for _, _, raw in copies}) == 1 and len(copies) >= 2
    # File-level drift and empty files.
    for d in defects:
        lines = files[d["file"]]
        if d["defect_class"] == "empty_file":
            assert lines == []
        elif d["defect_class"] == "extra_field":
            assert all(b'"app_version":' in raw for raw in lines)
        elif d["defect_class"] == "renamed_field":
            assert not any(b'"user_id":' in raw for raw in lines)
            assert any(b'"userId":' in raw for raw in lines)


def test_measured_defect_rates_match_configured_rates(spark, tiny_world):
    rates = tiny_world.config.dirt
    true_df = read_truth(spark, tiny_world.landing_root, "true_events").filter(~F.col("is_bot"))
    n = true_df.count()
    n_priced = true_df.filter(F.col("price").isNotNull()).count()
    counts = Counter(tiny_world.summary.defects)
    assert n > 5000
    # Content classes: binomial counts within 4 standard deviations (+1 for tiny rates).
    for name, base in [("malformed", n), ("missing_required", n), ("unknown_event_type", n),
                       ("future_timestamp", n), ("epoch_timestamp", n), ("invalid_utf8", n),
                       ("wrong_type", n_priced), ("bad_price", n_priced)]:
        rate = getattr(rates, name)
        expected = rate * base
        assert abs(counts[name] - expected) <= 4 * math.sqrt(expected) + 1, (name, counts[name], expected)
    # Duplicates: listed rows are extra copies, 1-4 per duplicated event (mean 2.5).
    dup_events = true_df.filter(F.col("copies") > 1).count()
    assert abs(dup_events - rates.duplicate * n) <= 4 * math.sqrt(rates.duplicate * n) + 1
    assert counts["duplicate"] == true_df.agg(F.sum(F.col("copies") - 1)).first()[0]
    # Late events: every delivered copy of a late event is listed as late.
    late = true_df.filter(F.col("late_days") > 0).agg(F.count("*"), F.sum("copies")).first()
    assert abs(late[0] - rates.late_arrival * n) <= 4 * math.sqrt(rates.late_arrival * n) + 1
    assert counts["late_arrival"] == late[1]
    assert counts["empty_file"] == rates.empty_files_per_day * tiny_world.days


def test_funnels_are_consistent(spark, tiny_world):
    ev = read_truth(spark, tiny_world.landing_root, "true_events").filter(~F.col("is_bot"))

    def orphans(child: str, parent: str, keys: list[str]) -> int:
        c = ev.filter(F.col("event_type") == child).select(*keys, F.col("event_time").alias("t"))
        p = (ev.filter(F.col("event_type") == parent)
             .groupBy(*keys).agg(F.min("event_time").alias("tp")))
        joined = c.join(p, on=keys, how="left")
        return joined.filter(F.col("tp").isNull() | (F.col("tp") > F.col("t"))).count()

    session_item = ["session_id", "item_id"]
    assert orphans("click", "view", session_item) == 0
    assert orphans("add_to_cart", "click", session_item) == 0
    assert orphans("purchase", "add_to_cart", session_item) == 0
    assert orphans("remove_from_cart", "add_to_cart", session_item) == 0
    assert orphans("promo_click", "promo_impression", ["user_id", "promotion_id"]) == 0
    assert orphans("promo_redeem", "promo_click", ["user_id", "promotion_id"]) == 0
    counts = {r["event_type"]: r["count"] for r in ev.groupBy("event_type").count().collect()}
    assert counts["view"] > counts["click"] > counts["add_to_cart"] > counts["purchase"]
    assert counts["promo_impression"] > counts["promo_click"] > counts["promo_redeem"]


def test_true_taste_beats_popularity(spark, tiny_world):
    """Hit rate@5 on day-2 clicks: true taste's top 5 vs the 5 most-viewed items of day 1."""
    ev = read_truth(spark, tiny_world.landing_root, "true_events").filter(~F.col("is_bot"))
    day1, day2 = tiny_world.start_date, tiny_world.start_date + dt.timedelta(days=1)
    popular = [r["item_id"] for r in ev.filter((F.col("gen_date") == day1) & (F.col("event_type") == "view"))
               .groupBy("item_id").count().orderBy(F.desc("count"), "item_id").limit(5).collect()]
    clicks = (ev.filter((F.col("gen_date") == day2) & (F.col("event_type") == "click")
                        & F.col("user_id").isNotNull())
              .select("user_id", "item_id").distinct())
    tops = read_truth(spark, tiny_world.landing_root, "users").select(
        "user_id", F.slice("top_items", 1, 5).alias("top5"))
    hits = (clicks.join(tops, on="user_id", how="inner")
            .agg(F.avg(F.array_contains("top5", F.col("item_id")).cast("double")).alias("taste"),
                 F.avg(F.col("item_id").isin(popular).cast("double")).alias("pop")).first())
    # Measured on the tiny preset (seed 20261123): taste ~0.6, popularity ~0.3.
    assert hits["taste"] >= hits["pop"] + 0.15, hits


def test_true_response_probabilities_spread(spark, tiny_world):
    p = np.array([r["p_redeem"] for r in read_truth(spark, tiny_world.landing_root, "response")
                  .select("p_redeem").collect()])
    q05, q50, q95 = np.quantile(p, [0.05, 0.5, 0.95])
    # Stated spread: 5th percentile below 2%, median 3-15%, 95th percentile above 20%.
    assert q05 < 0.02 and 0.03 < q50 < 0.15 and q95 > 0.20, (q05, q50, q95)
    per_user_best = read_truth(spark, tiny_world.landing_root, "oracle").filter("rank = 1")
    assert per_user_best.select("promotion_id").distinct().count() >= 4


def test_closed_loop_responses_only_for_shown_promotions_at_true_rates(spark, tiny_world):
    run_date = tiny_world.start_date + dt.timedelta(days=1)
    users = [f"u{i:07d}" for i in range(tiny_world.config.n_users)]
    rows = [(u, rank, promo, 0.5, run_date, "test_policy")
            for u in users for rank, promo in ((1, "p0000"), (2, "p0002"))]
    up_df = spark.createDataFrame(rows, "user_id string, rank int, promotion_id string, "
                                        "propensity double, run_date date, policy string")
    summary = respond(spark, tiny_world.config, tiny_world.landing_root, up_df, run_date,
                      tiny_world.seed)
    day3 = run_date + dt.timedelta(days=1)
    ev = (read_truth(spark, tiny_world.landing_root, "true_events")
          .filter((F.col("gen_date") == day3) & F.col("promotion_id").isNotNull()))
    shown = spark.createDataFrame(rows, up_df.schema).select("user_id", "promotion_id")
    assertDataFrameEqual(ev.select("user_id", "promotion_id").join(shown, ["user_id", "promotion_id"],
                                                                   "left_anti"),
                         spark.createDataFrame([], "user_id string, promotion_id string"))
    impressions = ev.filter(F.col("event_type") == "promo_impression")
    assert {(r["policy"], r["propensity"]) for r in impressions.select("policy", "propensity")
            .distinct().collect()} == {("test_policy", 0.5)}
    truth = read_truth(spark, tiny_world.landing_root, "response")
    stats = (impressions.select("user_id", "promotion_id")
             .join(truth, ["user_id", "promotion_id"], "inner")
             .join(ev.filter(F.col("event_type") == "promo_redeem").select(
                 "user_id", "promotion_id", F.lit(1).alias("redeemed")),
                 ["user_id", "promotion_id"], "left")
             .agg(F.count("*").alias("n"), F.sum("p_redeem").alias("expected"),
                  F.sum(F.coalesce("redeemed", F.lit(0))).alias("observed")).first())
    assert stats["n"] == summary.impressions > 100
    sd = math.sqrt(stats["expected"])
    assert abs(stats["observed"] - stats["expected"]) <= 4 * sd + 1, stats
    # Config or seed that does not match the world is refused.
    from recsys_spark.simulate import SimulatorError

    with pytest.raises(SimulatorError, match="same seed"):
        respond(spark, SimulatorConfig.from_preset("tiny"), tiny_world.landing_root, up_df,
                run_date, tiny_world.seed + 1)
