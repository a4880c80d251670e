"""Scoring users against their candidate items with numpy, one Arrow batch of users at a time.

Why not Spark built-ins: a dot product written with higher-order functions (``zip_with`` +
``aggregate``) is evaluated interpreted, ~10 µs per rank-16 product on this machine, which made
candidate scoring 3.2x slower than MLlib's BLAS-backed ``recommendForAllUsers`` at 10M events.

The candidate pool (every item of a category block or of the popular block) holds at most
categories x ``candidate_items_per_category`` + ``candidate_popular_items`` items, bounded by
configuration, so it is collected once with its factors and shipped with the function. Each
user then costs one (candidates x rank) matrix-vector product.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

SCORED_SCHEMA = "user_id string, rank int, item_id string, score double"
_NO_ITEMS = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class CandidatePool:
    """Candidate items by pool index; the index order is the item_id order (ties break on it)."""

    item_ids: np.ndarray            # object array of item ids, sorted
    factors: np.ndarray             # float64, (pool size, rank)
    blocks: dict[str, np.ndarray]   # category -> pool indices of its candidate items
    popular: np.ndarray             # pool indices of the popular items


def collect_pool(category_items_df: DataFrame, popular_df: DataFrame,
                 item_factors_df: DataFrame) -> CandidatePool:
    """The pool from [category, item_id] blocks and [item_id] popular items (items with factors)."""
    rows = (category_items_df.select("category", "item_id")
            .unionByName(popular_df.select(F.lit(None).cast("string").alias("category"), "item_id"))
            .join(item_factors_df.select("item_id", "features"), on="item_id", how="inner")
            .collect())
    features = {r["item_id"]: r["features"] for r in rows}
    item_ids = np.array(sorted(features), dtype=object)
    index = {item: k for k, item in enumerate(item_ids)}
    rank = len(next(iter(features.values()))) if features else 0
    factors = np.array([features[i] for i in item_ids], dtype=np.float64).reshape(len(item_ids), rank)
    members: dict[str | None, list[int]] = {}
    for r in rows:
        members.setdefault(r["category"], []).append(index[r["item_id"]])
    blocks = {c: np.unique(ix) for c, ix in members.items() if c is not None}
    return CandidatePool(item_ids, factors, blocks, np.unique(members.get(None, [])).astype(np.int64))


def top_n_scorer(pool: CandidatePool, n: int):
    """A ``mapInPandas`` function: rows (user_id, uf, cats, bought) -> SCORED_SCHEMA rows, the
    ``n`` best candidates per user by uf . item factor (score descending, then item_id)."""
    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            users, ranks, items, scores = [], [], [], []
            for user, uf, cats, bought in zip(pdf["user_id"], pdf["uf"], pdf["cats"], pdf["bought"],
                                              strict=True):
                idx = np.unique(np.concatenate([pool.blocks.get(c, _NO_ITEMS) for c in cats]
                                               + [pool.popular]))
                if len(bought):
                    idx = idx[~np.isin(pool.item_ids[idx], bought)]
                values = pool.factors[idx] @ np.asarray(uf, dtype=np.float64)
                best = np.lexsort((idx, -values))[:n]
                users += [user] * len(best)
                ranks += range(1, len(best) + 1)
                items += list(pool.item_ids[idx[best]])
                scores += list(values[best])
            yield pd.DataFrame({"user_id": users, "rank": np.array(ranks, dtype=np.int32),
                                "item_id": items, "score": np.array(scores, dtype=np.float64)})
    return score
