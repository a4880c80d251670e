"""Item-item similarity from events: the steps of cooccurrence.py and measures.py in order."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recsys_spark.ranking.cooccurrence import (
    context_items,
    cooccurrence_pairs,
    item_diagonal,
    with_event_weight,
    with_sampling,
)
from recsys_spark.ranking.measures import pair_scores, top_k
from recsys_spark.settings.similarity import SimilarityConfig


@dataclass
class SimilarityResult:
    """What one similarity computation yields (all lazily evaluated DataFrames)."""

    entries_df: DataFrame   # capped (context, item) affinities
    diag_df: DataFrame      # item_id, diag, n_contexts
    pairs_df: DataFrame     # item_i < item_j, cooc, support (after min_support)
    top_df: DataFrame       # item_id, similar_item_id, score, support, rank, method


def compute_similarity(events_df: DataFrame, cfg: SimilarityConfig, as_of: dt.date, seed: int
                       ) -> SimilarityResult:
    """Top-K similar items per item from ``events_df`` (already limited to the lookback).

    The capped entries and pairs are persisted: both are read more than once (diagonal,
    sampling, top-K and category rollups), and recomputing them would redo the self-join.
    """
    entries_df = context_items(with_event_weight(events_df, cfg, as_of), cfg).persist()
    diag_df = item_diagonal(entries_df).persist()
    needs_count = cfg.dimsum_threshold is not None
    n_items = diag_df.count() if needs_count else 0
    sampled_df = with_sampling(entries_df, diag_df, cfg, seed, n_items)
    pairs_df = cooccurrence_pairs(sampled_df, cfg.min_support).persist()
    top_df = (top_k(pair_scores(pairs_df, diag_df, cfg.measure), cfg.top_k)
              .withColumn("method", F.lit(cfg.measure)))
    return SimilarityResult(entries_df, diag_df, pairs_df, top_df)


def release(result: SimilarityResult) -> None:
    for df in (result.pairs_df, result.diag_df, result.entries_df):
        df.unpersist()
