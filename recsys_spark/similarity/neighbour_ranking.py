"""item_similarity: the neighbours of each item, chosen honestly.

Candidates: the co-occurrence measures (``cooccurrence_cosine``, ``_jaccard``, ``_lift``: one
co-occurrence computation per cut serves all three) and the baselines ``popularity`` (the most
popular other items) and ``category_popularity`` (the most popular other items of the item's
category). Neighbour lists are judged the way they are used: a user's next items are ranked by
the summed neighbour scores of their most recent items (the items themselves left out), against
what they engaged with in the window. ranking/selection.py chooses on validation, reports on
test; the stage publishes the winner's lists refitted on every day up to the run date.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recsys_spark.config import AppConfig
from recsys_spark.ranking.candidate import USER, Candidate, Cut
from recsys_spark.ranking.history import key_popularity, keyed_events, relevant_keys, user_history
from recsys_spark.ranking.lineage import materialize
from recsys_spark.ranking.neighbours import (
    CooccurrenceNeighbours,
    FittedNeighbourLists,
    FittedNeighbours,
    PopularNeighbours,
    SharedCooccurrence,
    recent_keys,
)
from recsys_spark.ranking.selection import RankingTask
from recsys_spark.ranking.windows import Window, history_until

TASK = "neighbours"
KEY = "item_id"
POPULARITY, CATEGORY_POPULARITY = "popularity", "category_popularity"


def measure_name(measure: str) -> str:
    return f"cooccurrence_{measure}"


def neighbour_candidates(config: AppConfig, shared: SharedCooccurrence, item_cat_df: DataFrame
                         ) -> list[Candidate]:
    sim, recent = config.similarity, config.ranking.recent_keys
    candidates: list[Candidate] = [PopularNeighbours(POPULARITY, sim.top_k, recent),
                                   PopularNeighbours(CATEGORY_POPULARITY, sim.top_k, recent, item_cat_df)]
    candidates += [CooccurrenceNeighbours(measure_name(m), shared, m, recent)
                   for m in sim.candidate_measures]
    return candidates


def neighbour_task(events_df: DataFrame, item_cat_df: DataFrame, shared: SharedCooccurrence,
                   config: AppConfig) -> RankingTask:
    """The neighbour ranking over ``events_df`` (the lookback window, persisted by the caller)."""
    ranking = config.ranking
    keyed_df = keyed_events(events_df, KEY, F.col(KEY), ranking)

    def make_cut(name: str, end: dt.date) -> Cut:
        cut_events_df = history_until(events_df, end)
        history_df = materialize(user_history(history_until(keyed_df, end), KEY, ranking, end))
        popularity_df = materialize(key_popularity(history_df, KEY))
        # The queries (the user's recent items) are never their own neighbours.
        queries_df = materialize(recent_keys(history_df, KEY, history_df.select(USER).distinct(),
                                             ranking.recent_keys))
        return Cut(name, end, KEY, cut_events_df, history_df, popularity_df, None, queries_df)

    def window_truth(window: Window) -> DataFrame:
        return relevant_keys(window.select(events_df), KEY, F.col(KEY), ranking.relevant_event_types)

    candidates = neighbour_candidates(config, shared, item_cat_df)
    names = [c.name for c in candidates]
    fallback = config.similarity.fallback
    return RankingTask(TASK, KEY, candidates, fallback if fallback in names else CATEGORY_POPULARITY,
                       make_cut, window_truth)


def published_neighbours(task: RankingTask, name: str, cut: Cut
                         ) -> FittedNeighbours | FittedNeighbourLists:
    """The ``name`` candidate fitted on ``cut``: its item -> neighbours lists are what the stage
    publishes (release() them after writing)."""
    fitted = task.candidate(name).fit(cut)
    assert isinstance(fitted, FittedNeighbours | FittedNeighbourLists), name
    return fitted
