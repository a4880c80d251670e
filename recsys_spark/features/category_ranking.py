"""user_category_affinity: which categories each user engages with next, chosen honestly.

Candidates (ranking/ package, one interface): the baselines ``popularity``,
``segment_popularity`` (this run's `user_segments`) and ``own_history`` (the user's event-weighted,
recency-decayed category history); the models ``category_als`` (implicit ALS on user x category
history) and ``category_cooccurrence`` (categories that co-occur, in user histories and
sessions, with the user's recent ones); and the ``blend`` of all five, a logistic regression
fitted on the validation window. ranking/selection.py chooses on validation, reports on test and
publishes the winner refitted on every day up to the run date: the top ``category_top_n`` per
known user.

Why the features stage publishes it: the ranking is a per-user feature (the response model and
promotion targeting read it), it needs only events and this run's segments — both here — and
none of its candidates depend on item-level ALS, so the als stage would only add a dependency.
Segments are this run's (assigned from the whole lookback): a baseline that sees a little of
the later windows only makes the bar for the models higher.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

from pyspark.sql import DataFrame

from recsys_spark.config import AppConfig
from recsys_spark.ranking.baselines import OWN_HISTORY, GlobalPopularity, OwnHistory, SegmentPopularity
from recsys_spark.ranking.blend import BLEND
from recsys_spark.ranking.candidate import Candidate, Cut
from recsys_spark.ranking.history import (
    category_key,
    key_popularity,
    keyed_events,
    relevant_keys,
    user_history,
)
from recsys_spark.ranking.key_als import KeyAls, KeyAlsParams
from recsys_spark.ranking.lineage import materialize
from recsys_spark.ranking.neighbours import CooccurrenceNeighbours, SharedCooccurrence
from recsys_spark.ranking.selection import Decision, Published, RankingTask, choose, publish
from recsys_spark.ranking.windows import EvalWindows, Window, history_until

TASK = "categories"
KEY = "category"
CATEGORY_ALS, CATEGORY_COOCCURRENCE = "category_als", "category_cooccurrence"


def category_candidates(config: AppConfig, seed: int, has_segments: bool) -> list[Candidate]:
    features, ranking = config.features, config.ranking
    shared = SharedCooccurrence(dataclasses.replace(config.similarity, top_k=ranking.blend_pool), seed)
    candidates: list[Candidate] = [GlobalPopularity(), OwnHistory()]
    if has_segments:
        candidates.append(SegmentPopularity())
    candidates += [
        KeyAls(CATEGORY_ALS, KeyAlsParams(features.category_als_rank, features.category_als_max_iter,
                                          features.category_als_reg_param, features.category_als_alpha),
               seed),
        CooccurrenceNeighbours(CATEGORY_COOCCURRENCE, shared, config.similarity.measure,
                               ranking.recent_keys),
    ]
    return candidates


def category_task(events_df: DataFrame, segments_df: DataFrame | None, config: AppConfig,
                  seed: int) -> RankingTask:
    """The ranking task over ``events_df`` (the lookback window, persisted by the caller)."""
    ranking, level = config.ranking, config.features.category_level
    keyed_df = keyed_events(events_df, KEY, category_key(level), ranking)
    segments = (materialize(segments_df.select("user_id", "segment_id"))
                if segments_df is not None else None)

    def make_cut(name: str, end: dt.date) -> Cut:
        cut_events_df = history_until(keyed_df, end)
        history_df = materialize(user_history(cut_events_df, KEY, ranking, end))
        popularity_df = materialize(key_popularity(history_df, KEY))
        return Cut(name, end, KEY, cut_events_df, history_df, popularity_df, segments)

    def window_truth(window: Window) -> DataFrame:
        return relevant_keys(window.select(events_df), KEY, category_key(level),
                             ranking.relevant_event_types)

    candidates = category_candidates(config, seed, segments is not None)
    names = [c.name for c in candidates]
    fallback = config.features.category_fallback
    return RankingTask(TASK, KEY, candidates, fallback if fallback in names else OWN_HISTORY,
                       make_cut, window_truth, blend=names)


def rank_categories(events_df: DataFrame, segments_df: DataFrame | None, users_df: DataFrame,
                    config: AppConfig, run_date: dt.date, seed: int) -> tuple[Decision, Published]:
    """Choose the category ranking and build its published rows for ``users_df`` [user_id].

    Returns:
        (the decision with its model_metrics rows, the published ranking: write
        ``published.ranking_df`` to user_category_affinity, then ``release()``).
    """
    ranking = config.ranking
    task = category_task(events_df, segments_df, config, seed)
    windows = EvalWindows.for_run(run_date, config.features.lookback_days, ranking.validation_days,
                                  ranking.test_days)
    decision = choose(task, windows, ranking, seed)
    published = publish(task, decision, run_date, users_df, config.features.category_top_n,
                        ranking.blend_pool)
    return decision, published


__all__ = ["BLEND", "CATEGORY_ALS", "CATEGORY_COOCCURRENCE", "rank_categories"]
