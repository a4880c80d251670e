"""One interface for every candidate ranking, baseline or model.

A :class:`Candidate` is fitted on a :class:`Cut` (the history before the window it will be
scored on) and returns a :class:`Fitted` ranker whose ``top(users_df, n)`` gives at most ``n``
scored keys per user. :func:`complete` turns that into the published shape: keys the cut
excludes (items already bought) removed, the list filled up with globally popular keys, ranks
1..n. Every candidate is completed the same way, so a baseline and a model are compared on
equal terms and every user gets a full list.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

USER = "user_id"
CANDIDATE = "candidate"
Role = Literal["baseline", "model", "blend"]
POPULAR_SOURCE = "popular"


@dataclass
class Cut:
    """What candidates may be fitted on to score one window: history of days <= ``end``.

    ``history_df`` is [user_id, <key>, strength, last_time] (history.user_history),
    ``popularity_df`` [<key>, popularity]; ``segments_df`` [user_id, segment_id] and
    ``exclude_df`` [user_id, <key>] are optional. ``events_df`` are the keyed events of the
    history (the key in column ``key``), for candidates that need single events.
    """

    name: str
    end: dt.date
    key: str
    events_df: DataFrame
    history_df: DataFrame
    popularity_df: DataFrame
    segments_df: DataFrame | None = None
    exclude_df: DataFrame | None = None
    cached: list[DataFrame] = field(default_factory=list)

    def release(self) -> None:
        for df in self.cached:
            df.unpersist()
        self.cached.clear()


class Fitted(Protocol):
    def top(self, users_df: DataFrame, n: int) -> DataFrame:
        """[user_id, <key>, score] for users of ``users_df`` [user_id]: at most ``n`` rows per user,
        higher score = better; a user the candidate knows nothing about may get no row."""
        ...

    def release(self) -> None:
        """Free what the fit cached."""
        ...


class Candidate(Protocol):
    name: str
    role: Role

    def fit(self, cut: Cut) -> Fitted:
        ...


def top_per_user(scored_df: DataFrame, key: str, n: int) -> DataFrame:
    """The ``n`` best rows per user by score (ties by key) with ``rank`` 1..n."""
    order = Window.partitionBy(USER).orderBy(F.desc("score"), F.asc(key))
    return (scored_df.withColumn("rank", F.row_number().over(order)).filter(F.col("rank") <= n)
            .select(USER, F.col("rank").cast("int"), key, F.col("score").cast("double")))


def popular_keys(popularity_df: DataFrame, key: str, n: int) -> DataFrame:
    """The ``n`` most popular keys [<key>, popularity] (ties by key): a small list."""
    return popularity_df.orderBy(F.desc("popularity"), F.asc(key)).limit(n)


def complete(top_df: DataFrame, cut: Cut, users_df: DataFrame, n: int, source: str) -> DataFrame:
    """[user_id, rank, <key>, score, source]: ``top_df``'s keys minus the cut's exclusions, then
    the most popular other keys, ``n`` per user of ``users_df`` (fewer only when the catalog is
    smaller). ``source`` is ``source`` for the candidate's own keys, "popular" for the filler."""
    return complete_many({source: top_df}, cut, users_df, n).drop(CANDIDATE)


def complete_many(tops: Mapping[str, DataFrame], cut: Cut, users_df: DataFrame, n: int) -> DataFrame:
    """[candidate, user_id, rank, <key>, score, source]: :func:`complete` of every candidate's
    list (``tops``: name -> [user_id, <key>, score]) in one plan, so a window's candidates are
    completed and judged by one Spark job instead of one per candidate.

    The filler is the top (n + excluded) popular keys crossed with the candidates' names and
    the users: users x candidates x a few dozen rows, the small side broadcast.
    """
    key = cut.key
    own_df = _union([top_df.select(F.lit(name).alias(CANDIDATE), USER, key,
                                   F.col("score").cast("double"), F.lit(0).alias("tier"),
                                   F.lit(name).alias("source"))
                     for name, top_df in tops.items()])
    spare = n if cut.exclude_df is not None else 0
    head_df = (popular_keys(cut.popularity_df, key, n + spare)
               .withColumn(CANDIDATE, F.explode(F.array(*[F.lit(name) for name in tops]))))
    filler_df = (users_df.select(USER).crossJoin(F.broadcast(head_df))
                 .select(CANDIDATE, USER, key, F.col("popularity").alias("score"),
                         F.lit(1).alias("tier"), F.lit(POPULAR_SOURCE).alias("source")))
    both_df = own_df.unionByName(filler_df)
    if cut.exclude_df is not None:
        both_df = both_df.join(cut.exclude_df.select(USER, key), on=[USER, key], how="left_anti")
    first = Window.partitionBy(CANDIDATE, USER, key).orderBy("tier")
    order = Window.partitionBy(CANDIDATE, USER).orderBy("tier", F.desc("score"), F.asc(key))
    return (both_df.withColumn("dup", F.row_number().over(first)).filter(F.col("dup") == 1)
            .withColumn("rank", F.row_number().over(order)).filter(F.col("rank") <= n)
            .select(CANDIDATE, USER, F.col("rank").cast("int"), key, "score", "source"))


def _union(parts: list[DataFrame]) -> DataFrame:
    union_df = parts[0]
    for part in parts[1:]:
        union_df = union_df.unionByName(part)
    return union_df
