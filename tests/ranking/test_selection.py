"""The selection protocol on a hand-built world where the validation winner loses the test:
the published figure is the validation winner's test figure, never a validation figure."""
from __future__ import annotations

import datetime as dt
import math

import pytest
from pyspark import StorageLevel

from recsys_spark.ranking.baselines import GlobalPopularity, OwnHistory
from recsys_spark.ranking.candidate import Cut
from recsys_spark.ranking.history import (
    category_key,
    key_popularity,
    keyed_events,
    relevant_keys,
    user_history,
)
from recsys_spark.ranking.selection import PUBLISHED, RankingTask, choose, publish
from recsys_spark.ranking.windows import EvalWindows, Window, history_until
from recsys_spark.settings.ranking import RankingConfig
from tests.factories import event, frame

pytestmark = pytest.mark.unit

RUN_DATE = dt.date(2026, 11, 10)          # test 11-10, validation 11-09, train <= 11-08
USERS = ("u1", "u2", "u3", "u4")
CFG = RankingConfig(min_eval_users=3, k=10)


def world(spark):
    """Each user clicks their own category c<i> on 11-07, 11-08 and (validation) 11-09; all view
    "pop" on 11-08 and "a_trend" on 11-09; on the test day 11-10 all click "a_trend"."""
    rows, n = [], 0

    def add(day: str, kind: str, user: str, category: str) -> None:
        nonlocal n
        n += 1
        rows.append(event(n, day, kind, user, item_id=f"i-{category}", category=category))

    for i, user in enumerate(USERS, start=1):
        add("2026-11-07", "click", user, f"c{i}")
        add("2026-11-08", "click", user, f"c{i}")
        add("2026-11-08", "view", user, "pop")
        add("2026-11-09", "click", user, f"c{i}")
        add("2026-11-09", "view", user, "a_trend")
        add("2026-11-10", "click", user, "a_trend")
    return frame(spark, "events", rows)


def baseline_task(events_df) -> RankingTask:
    keyed_df = keyed_events(events_df, "category", category_key("full"), CFG)

    def make_cut(name: str, end: dt.date) -> Cut:
        cut_df = history_until(keyed_df, end)
        history_df = user_history(cut_df, "category", CFG, end).persist(StorageLevel.MEMORY_AND_DISK)
        popularity_df = key_popularity(history_df, "category").persist()
        return Cut(name, end, "category", cut_df, history_df, popularity_df,
                   cached=[history_df, popularity_df])

    def truth(window: Window):
        return relevant_keys(window.select(events_df), "category", category_key("full"),
                             CFG.relevant_event_types)

    return RankingTask("categories", "category", [GlobalPopularity(), OwnHistory()], "popularity",
                       make_cut, truth)


def test_validation_winner_is_published_with_its_test_figure(spark):
    events_df = world(spark)
    windows = EvalWindows.for_run(RUN_DATE, 30, 1, 1)
    decision = choose(baseline_task(events_df), windows, CFG, seed=1)

    # validation: own history hits c<i> at rank 1; popularity ranks pop, c1, c2, c3, c4
    popularity_validation = sum(1 / math.log2(i + 2) for i in range(1, 5)) / 4
    assert decision.validation["own_history"]["ndcg@10"] == pytest.approx(1.0)
    assert decision.validation["popularity"]["ndcg@10"] == pytest.approx(popularity_validation)
    # test: a_trend is the most popular key of the cut (tied with pop, first by name) and only
    # the second of each user's own history (after c<i>)
    assert decision.test["popularity"]["ndcg@10"] == pytest.approx(1.0)
    assert decision.test["own_history"]["ndcg@10"] == pytest.approx(1 / math.log2(3))

    assert decision.published == "own_history"
    assert decision.published_role == "baseline"
    published = [r for r in decision.rows if r["model"] == PUBLISHED]
    assert len(published) == 1
    row = published[0]
    assert (row["metric"], row["split"]) == ("ndcg@10", "test")
    assert row["value"] == pytest.approx(1 / math.log2(3))          # not 1.0 (its validation figure)
    assert row["params"]["candidate"] == "own_history"
    assert row["params"]["reported_on"] == "test 2026-11-10"
    assert row["params"]["chosen_on"] == "validation 2026-11-09"
    assert "baseline own_history won on validation" in row["params"]["reason"]
    # every candidate has figures on both windows, fitted before the window they score
    splits = {(r["model"], r["split"], r["params"]["fitted_through"]) for r in decision.rows
              if r["metric"] == "ndcg@10" and r["model"] != PUBLISHED}
    assert splits == {(m, "validation", "2026-11-08") for m in ("own_history", "popularity")} | {
        (m, "test", "2026-11-09") for m in ("own_history", "popularity")}


def test_published_lists_are_refitted_on_every_day_and_hold_n_rows(spark):
    events_df = world(spark)
    task = baseline_task(events_df)
    decision = choose(task, EvalWindows.for_run(RUN_DATE, 30, 1, 1), CFG, seed=1)
    users_df = spark.createDataFrame([(u,) for u in (*USERS, "new")], "user_id string")
    published = publish(task, decision, RUN_DATE, users_df, 3, CFG.blend_pool)
    try:
        got = {(r["user_id"], r["rank"]): (r["category"], r["source"])
               for r in published.ranking_df.collect()}
    finally:
        published.release()
    # u1 on 11-10: c1 (3 clicks), a_trend (a click today), pop (a view); a new user gets popular
    # categories: a_trend and pop by 4 users each (by name), then c1 .. c4 by one each
    assert {k: v for k, v in got.items() if k[0] in ("u1", "new")} == {
        ("u1", 1): ("c1", "own_history"), ("u1", 2): ("a_trend", "own_history"),
        ("u1", 3): ("pop", "own_history"),
        ("new", 1): ("a_trend", "popular"), ("new", 2): ("pop", "popular"),
        ("new", 3): ("c1", "popular")}
    assert len(got) == 3 * 5


def test_too_little_history_publishes_the_fallback_with_a_reason(spark):
    events_df = world(spark).filter("event_date >= '2026-11-09'")
    # history starts on 11-09 = the validation day: nothing to fit on before it
    windows = EvalWindows.for_run(RUN_DATE, 2, 1, 1)
    decision = choose(baseline_task(events_df), windows, CFG, seed=1)
    assert decision.published == "popularity"
    assert decision.validation == {} and decision.test == {}
    (row,) = decision.rows
    assert row["model"] == PUBLISHED and row["value"] is None
    assert "no history before the validation window 2026-11-09" in row["params"]["reason"]


def test_a_window_with_too_few_users_cannot_choose(spark):
    events_df = world(spark).filter("user_id IN ('u1', 'u2')")
    decision = choose(baseline_task(events_df), EvalWindows.for_run(RUN_DATE, 30, 1, 1), CFG, seed=1)
    assert decision.published == "popularity"
    assert decision.reason == ("validation window 2026-11-09 has 2 judged users (< ranking."
                               "min_eval_users 3): the fallback baseline popularity is published")
