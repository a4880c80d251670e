"""als_recommendations: the items each user engages with next, chosen honestly.

Candidates (one interface, ranking/candidate.py): the baselines ``popularity``,
``segment_popularity`` and ``repeat_items`` (the user's own items by event-weighted,
recency-decayed history: repeat consumption); the models ``item_similarity`` (co-occurrence
neighbours of the user's recent items) and ``als`` (implicit ALS scored over its candidate
pool, als/recommend.py); and the ``blend`` of all five. ranking/selection.py chooses on the
validation window, reports on the test window, and the stage publishes the winner refitted on
every day up to the run date. With ``als.exclude_purchased`` every candidate's list leaves out
what the user bought before the cut.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recsys_spark.als import recommend as rc
from recsys_spark.als.confidence import build_ratings, end_of_day
from recsys_spark.als.train import AlsParams, Factors, fit_factors
from recsys_spark.config import AppConfig
from recsys_spark.ranking.baselines import (
    REPEAT_ITEMS,
    GlobalPopularity,
    OwnHistory,
    SegmentPopularity,
)
from recsys_spark.ranking.candidate import USER, Candidate, Cut, Role
from recsys_spark.ranking.history import key_popularity, keyed_events, relevant_keys, user_history
from recsys_spark.ranking.lineage import materialize
from recsys_spark.ranking.neighbours import CooccurrenceNeighbours, SharedCooccurrence
from recsys_spark.ranking.selection import RankingTask
from recsys_spark.ranking.windows import Window, history_until
from recsys_spark.settings.als import AlsConfig

TASK = "items"
KEY = "item_id"
ALS, ITEM_SIMILARITY = "als", "item_similarity"


@dataclass
class FittedItemAls:
    """ALS factors of one cut and what its candidate scoring needs."""

    ratings_df: DataFrame
    factors: Factors
    item_cat_df: DataFrame
    exclude_df: DataFrame | None
    config: AlsConfig
    owns_ratings: bool = True

    def top(self, users_df: DataFrame, n: int) -> DataFrame:
        config = dataclasses.replace(self.config, top_n=n)
        return (rc.recommend_warm(users_df, self.ratings_df, self.item_cat_df,
                                  rc.item_popularity(self.ratings_df), self.exclude_df,
                                  self.factors.user_factors_df, self.factors.item_factors_df, config)
                .select(USER, KEY, "score"))

    def release(self) -> None:
        if self.owns_ratings:
            self.ratings_df.unpersist()


@dataclass
class ItemAls:
    """Candidate: implicit ALS (the als section's confidence and parameters) on the cut's
    events. The publish cut reuses the stage's fit (its factors are the stage's outputs)."""

    events_df: DataFrame             # the stage's event window
    user_map_df: DataFrame
    item_map_df: DataFrame
    item_cat_df: DataFrame
    config: AppConfig
    params: AlsParams
    seed: int
    name: str = ALS
    role: Role = "model"
    prefit: dict[str, tuple[DataFrame, Factors]] = field(default_factory=dict)

    def fit(self, cut: Cut) -> FittedItemAls:
        if cut.name in self.prefit:
            ratings_df, factors = self.prefit[cut.name]
            return FittedItemAls(ratings_df, factors, self.item_cat_df, cut.exclude_df,
                                 self.config.als, owns_ratings=False)
        ratings_df = materialize(build_ratings(history_until(self.events_df, cut.end), self.config.als,
                                               end_of_day(cut.end)))
        factors = fit_factors(ratings_df, self.user_map_df, self.item_map_df, self.config.als,
                              self.params, self.seed)
        return FittedItemAls(ratings_df, factors, self.item_cat_df, cut.exclude_df, self.config.als)


def item_candidates(config: AppConfig, als: ItemAls, seed: int, has_segments: bool) -> list[Candidate]:
    ranking = config.ranking
    shared = SharedCooccurrence(config.similarity, seed)
    candidates: list[Candidate] = [GlobalPopularity(), OwnHistory(name=REPEAT_ITEMS)]
    if has_segments:
        candidates.append(SegmentPopularity())
    candidates += [CooccurrenceNeighbours(ITEM_SIMILARITY, shared, config.similarity.measure,
                                          ranking.recent_keys),
                   als]
    return candidates


def purchased_until(events_df: DataFrame, end: dt.date) -> DataFrame:
    """[user_id, item_id] bought on days <= ``end``."""
    return rc.purchased_items(history_until(events_df, end))


def item_task(events_df: DataFrame, segments_df: DataFrame | None, als: ItemAls, config: AppConfig,
              seed: int, fallback: str) -> RankingTask:
    """The item ranking over ``events_df`` (the stage's window, persisted by the caller)."""
    ranking = config.ranking
    keyed_df = keyed_events(events_df, KEY, F.col(KEY), ranking)
    segments = (materialize(segments_df.select(USER, "segment_id"))
                if segments_df is not None else None)

    def make_cut(name: str, end: dt.date) -> Cut:
        cut_events_df = history_until(keyed_df, end)
        history_df = materialize(user_history(cut_events_df, KEY, ranking, end))
        popularity_df = materialize(key_popularity(history_df, KEY))
        exclude_df = (materialize(purchased_until(events_df, end))
                      if config.als.exclude_purchased else None)
        return Cut(name, end, KEY, cut_events_df, history_df, popularity_df, segments, exclude_df)

    def window_truth(window: Window) -> DataFrame:
        return relevant_keys(window.select(events_df), KEY, F.col(KEY), ranking.relevant_event_types)

    candidates = item_candidates(config, als, seed, segments is not None)
    names = [c.name for c in candidates]
    return RankingTask(TASK, KEY, candidates, fallback if fallback in names else REPEAT_ITEMS,
                       make_cut, window_truth, blend=names)
