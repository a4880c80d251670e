"""The features stage on inline events: user_features against a pandas reference, RFM buckets,
segment ids stable across runs, item_stats, missing-input error."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import functions as F

from recsys_spark.errors import UnknownTableError
from recsys_spark.features.segments import Centroid, match_centroids
from recsys_spark.features.stage import run_features
from recsys_spark.runs import RunContext
from recsys_spark.settings.features import FeaturesConfig
from recsys_spark.stage_runner import run_stage
from recsys_spark.tables import CommitInfo, TableStore
from tests.factories import EVENTS_PARTITIONS, event, frame, make_config, nullable_schema

RUN_DATE = dt.date(2026, 11, 30)
CFG = FeaturesConfig(windows_days=(7, 30), k=2, top_categories=2, rate_prior_strength=2.0,
                     activity_days_thresholds=(2, 3), rfm_recency_days=(3, 20),
                     rfm_frequency=(2, 3), rfm_monetary=(25.0, 100.0))
COMMIT = CommitInfo(run_id="test-setup", stage="clean")


def inline_rows() -> list[dict]:
    rows = [
        # u1: buyer with promotions, electronics-heavy
        event(1, "2026-11-30", "view", "u1", item_id="a", category="electronics.audio"),
        event(2, "2026-11-25", "view", "u1", item_id="c", category="electronics.tv"),
        event(3, "2026-11-29", "purchase", "u1", item_id="a", category="electronics.audio",
              price=10.0, quantity=2, promotion_id="p1"),
        event(4, "2026-11-10", "add_to_cart", "u1", item_id="b", category="home.kitchen", price=30.0),
        event(5, "2026-11-10", "purchase", "u1", item_id="b", category="home.kitchen", price=30.0,
              quantity=1),
        event(6, "2026-11-28", "promo_impression", "u1", promotion_id="p1"),
        event(7, "2026-11-28", "promo_impression", "u1", promotion_id="p1"),
        event(8, "2026-11-28", "promo_impression", "u1", promotion_id="p1"),
        event(9, "2026-11-28", "promo_click", "u1", promotion_id="p1"),
        event(10, "2026-11-29", "promo_redeem", "u1", promotion_id="p1"),
        # u2: a browser in the 30-day window only; ignores coupons
        event(11, "2026-11-05", "view", "u2", item_id="d", category="home.garden",
              session_id="s9"),
        event(12, "2026-11-05", "promo_impression", "u2", promotion_id="p2", session_id="s9"),
        event(13, "2026-11-06", "promo_impression", "u2", promotion_id="p2"),
        event(14, "2026-11-06", "view", "u2", item_id="a", category="electronics.audio"),
        # u3: only older than the lookback -> no history; anonymous view ignored
        event(15, "2026-10-20", "purchase", "u3", item_id="a", category="electronics.audio",
              price=10.0, quantity=1),
        event(16, "2026-11-30", "view", None, item_id="a", category="electronics.audio",
              session_id="anon"),
        # after the run date: never read
        event(17, "2026-12-01", "purchase", "u2", item_id="a", category="electronics.audio",
              price=10.0, quantity=1),
    ]
    return rows


def write_inputs(spark, store: TableStore, rows: list[dict]) -> None:
    store.write(frame(spark, "events", rows), "events", "overwrite", COMMIT, partition_by=EVENTS_PARTITIONS)
    start, end = dt.date(2026, 11, 1), dt.date(2026, 12, 31)
    promos = [("p1", "ten off", "percent_off", 0.1, 0.0, [], start, end, 100, "catalog", "r"),
              ("p2", "coupon", "coupon", 0.2, 0.0, ["home"], start, end, 100, "catalog", "r")]
    store.write(spark.createDataFrame(promos, nullable_schema("promotions")), "promotions", "overwrite",
                COMMIT)
    users = [("u1", dt.date(2026, 1, 1), "eu", "web", "r"), ("u3", dt.date(2026, 1, 1), "eu", "app", "r"),
             ("u4", dt.date(2026, 12, 5), "eu", "app", "r")]  # u4 signs up after the run date
    store.write(spark.createDataFrame(users, nullable_schema("users")), "users", "overwrite", COMMIT)


def pandas_reference(rows: list[dict], cfg: FeaturesConfig, run_date: dt.date) -> pd.DataFrame:
    """An independent computation of the headline user features with pandas."""
    ev = pd.DataFrame(rows)
    start = run_date - dt.timedelta(days=cfg.lookback_days - 1)
    ev = ev[(ev.event_date >= start) & (ev.event_date <= run_date) & ev.user_id.notna()]
    users = sorted(set(ev.user_id) | {"u1", "u3"})
    promo_type = {"p1": "percent_off", "p2": "coupon"}
    ev = ev.assign(promo_type=ev.promotion_id.map(promo_type))
    imp_all = ev[ev.event_type == "promo_impression"]
    m = cfg.rate_prior_strength

    def g(kind: str, t: str) -> float:
        imps = (imp_all.promo_type == t).sum()
        hits = ((ev.event_type == kind) & (ev.promo_type == t)).sum()
        return hits / imps if imps else 0.0

    out = []
    for u in users:
        e = ev[ev.user_id == u]
        buys = e[e.event_type == "purchase"]
        value = (buys.price * buys.quantity.fillna(1)).sum()
        units = buys.quantity.fillna(1).sum()
        cats = e[e.event_type.isin(["view", "click", "add_to_cart", "remove_from_cart", "purchase"])
                 & e.category.notna()].category.str.split(".").str[0]
        shares = cats.value_counts(normalize=True).rename_axis("c").reset_index(name="s")
        shares = shares.sort_values(["s", "c"], ascending=[False, True]).head(cfg.top_categories)
        active = e.event_date.nunique()
        in7 = e[e.event_date >= run_date - dt.timedelta(days=6)]
        rec = {"user_id": u, "has_history": int(len(e) >= cfg.min_events),
               "recency_days": (run_date - e.event_date.max()).days if len(e) else None,
               "purchase_recency_days": (run_date - buys.event_date.max()).days if len(buys) else None,
               "frequency": len(buys), "monetary": float(value), "events": len(e),
               "sessions": e.session_id.nunique(), "active_days": active,
               "activity_level": "none" if active == 0 else "low" if active < 2 else
               "medium" if active < 3 else "high",
               "avg_price_paid": value / units if units else None,
               "price_sensitivity": buys.promotion_id.notna().mean() if len(buys) else None,
               "fr_7d": int((in7.event_type == "purchase").sum()), "ev_7d": len(in7),
               "top_categories": list(shares.c), "top_category_shares": list(shares.s)}
        for t in ("percent_off", "coupon"):
            imps = ((e.event_type == "promo_impression") & (e.promo_type == t)).sum()
            clicks = ((e.event_type == "promo_click") & (e.promo_type == t)).sum()
            rec[f"click_rate_{t}"] = (clicks + m * g("promo_click", t)) / (imps + m)
            rec[f"imp_{t}"] = int(imps)
        out.append(rec)
    return pd.DataFrame(out)


@pytest.fixture(scope="module")
def featured_store(spark, tmp_path_factory) -> TableStore:
    """One features run on the inline rows, shared by the tests that read its outputs."""
    config = make_config(tmp_path_factory.mktemp("features"), features=CFG)
    store = TableStore(spark, config.warehouse)
    write_inputs(spark, store, inline_rows())
    run_stage(spark, store, RunContext(config, RUN_DATE, "features"), run_features)
    return store


@pytest.mark.stage
def test_user_features_equal_pandas_reference_and_segments_are_written(spark, featured_store):
    store, rows = featured_store, inline_rows()
    got_df = store.read("user_features").select(
        "user_id", "has_history", "recency_days", "purchase_recency_days", "frequency", "monetary",
        "events", "sessions", "active_days", "activity_level", "avg_price_paid", "price_sensitivity",
        F.col("frequency_by_window")["7d"].alias("fr_7d"), F.col("events_by_window")["7d"].alias("ev_7d"),
        "top_categories", "top_category_shares", "click_rate_percent_off", "click_rate_coupon",
        F.col("promo_impressions")["percent_off"].alias("imp_percent_off"),
        F.col("promo_impressions")["coupon"].alias("imp_coupon"))
    ref = pandas_reference(rows, CFG, RUN_DATE)[got_df.columns]
    expected_df = spark.createDataFrame(ref.astype(object).where(ref.notna(), None), got_df.schema)
    assert_approx_df_equality(got_df.orderBy("user_id"), expected_df.orderBy("user_id"), 1e-9,
                              ignore_nullable=True)
    # Spot-check the reference itself on the hand-countable user: 2 purchases, 20 + 30 EUR.
    u1 = ref.set_index("user_id").loc["u1"]
    assert (u1.frequency, u1.monetary, u1.price_sensitivity) == (2, 50.0, 0.5)
    assert u1.click_rate_percent_off == pytest.approx((1 + 2 * (1 / 3)) / (3 + 2))

    segments_df = store.read("user_segments").select("user_id", "segment_id", "rfm_segment", "rfm_code")
    # u1: purchase 1 day ago, 2 purchases, 50 EUR -> R3F2M2 champions; u2 never bought -> browser.
    # u2 and u1 are the only users with history and k=2: each is its own cluster, the larger
    # (tie) by centre order; u3 has no history -> cold_start.
    got = {r.user_id: (r.segment_id, r.rfm_segment, r.rfm_code) for r in segments_df.collect()}
    assert got["u1"][1:] == ("champions", "R3F2M2")
    assert got["u2"][1:] == ("browsers", "R0F0M0")
    assert got["u3"] == ("cold_start", "cold_start", "R0F0M0")
    assert {got["u1"][0], got["u2"][0]} == {"s0", "s1"}


@pytest.mark.stage
def test_item_stats_counts_and_conversion(spark, featured_store):
    got_df = featured_store.read("item_stats").select(
        "item_id", "category", "views", "add_to_carts", "purchases", "units_sold", "revenue",
        "unique_users", "view_to_purchase_rate", "cart_to_purchase_rate", "popularity_rank",
        F.col("views_by_window")["7d"].alias("views_7d"))
    expected_df = spark.createDataFrame([
        # a: views u1 (30th), anon (30th), u2 (6th); purchase u1 qty 2 @10; users u1, u2
        ("a", "electronics.audio", 3, 0, 1, 2, 20.0, 2, 1 / 3, None, 1, 2),
        ("b", "home.kitchen", 0, 1, 1, 1, 30.0, 1, None, 1.0, 2, 0),
        ("c", "electronics.tv", 1, 0, 0, 0, 0.0, 1, 0.0, None, 3, 1),
        ("d", "home.garden", 1, 0, 0, 0, 0.0, 1, 0.0, None, 4, 0),
    ], got_df.schema)
    assert_approx_df_equality(got_df.orderBy("item_id"), expected_df, 1e-12, ignore_nullable=True)


def _segment_world(spark, store: TableStore) -> None:
    """30 users in three clear behaviour groups: big buyers, light buyers, browsers."""
    rows, n = [], 0
    for i in range(30):
        u = f"u{i:02d}"
        group = i % 3
        for d in range(1 + 6 * (group < 2)):
            n += 1
            rows.append(event(n, f"2026-11-{20 + d:02d}", "view", u, item_id=f"i{i % 5}",
                              category="home.garden"))
        for d in range(6 if group == 0 else 1 if group == 1 else 0):
            n += 1
            rows.append(event(n, f"2026-11-{20 + d:02d}", "purchase", u, item_id="i1",
                              category="home.garden", price=200.0 if group == 0 else 15.0, quantity=1,
                              promotion_id="p1" if group == 0 else None))
    store.write(frame(spark, "events", rows), "events", "overwrite", COMMIT, partition_by=EVENTS_PARTITIONS)


@pytest.mark.stage
def test_segment_ids_stable_across_runs(spark, tmp_path):
    cfg = FeaturesConfig(windows_days=(30,), k=3, seed_per_run_date=True)
    config = make_config(tmp_path, features=cfg)
    store = TableStore(spark, config.warehouse)
    _segment_world(spark, store)
    day1, day2 = dt.date(2026, 11, 28), dt.date(2026, 11, 29)

    def segments(day: dt.date):
        return (store.read("user_segments").filter(F.col("run_date") == F.lit(day))
                .select("user_id", "segment_id").orderBy("user_id"))

    run_stage(spark, store, RunContext(config, day1, "features"), run_features)
    first_df = segments(day1).cache()
    first_df.count()
    # Three groups -> three segments of 10 users each.
    sizes = sorted(r["count"] for r in first_df.groupBy("segment_id").count().collect())
    assert sizes == [10, 10, 10]
    # Next day: other KMeans seed, shifted recency; ids must follow the groups.
    run_stage(spark, store, RunContext(config, day2, "features"), run_features)
    assert_df_equality(segments(day2), first_df, ignore_nullable=True)
    matched = store.read("segment_centroids").filter(F.col("run_date") == F.lit(day2))
    assert sorted((r.segment_id, r.matched_from) for r in matched.collect()) == [
        ("s0", "s0"), ("s1", "s1"), ("s2", "s2")]


@pytest.mark.unit
def test_match_centroids_undoes_a_permutation_and_names_new_clusters():
    names = ("a", "b")
    previous = [Centroid("s0", names, (0.0, 0.0)), Centroid("s1", names, (10.0, 0.0)),
                Centroid("s2", names, (0.0, 10.0))]
    mean, std = np.array([0.0, 0.0]), np.array([1.0, 1.0])
    # New run: the same three centres in another order, plus a fourth new one.
    new = np.array([[0.2, 9.9], [50.0, 50.0], [0.1, -0.1], [9.8, 0.3]])
    ids = match_centroids(new, [5, 7, 5, 5], previous, names, mean, std)
    assert ids == [("s2", "s2"), ("s3", None), ("s0", "s0"), ("s1", "s1")]
    # No previous run: largest cluster first.
    assert match_centroids(new, [5, 7, 6, 1], [], names, mean, std) == [
        ("s2", None), ("s0", None), ("s1", None), ("s3", None)]


@pytest.mark.stage
def test_missing_events_names_the_stage_to_run(spark, tmp_path):
    config = make_config(tmp_path, features=CFG)
    store = TableStore(spark, config.warehouse)
    with pytest.raises(UnknownTableError, match="run `recsys clean --run-date 2026-11-30` first"):
        run_features(spark, store, RunContext(config, RUN_DATE, "features"))
