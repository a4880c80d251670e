"""Two runs' copies of one table compared with a float tolerance (pandas: the tiny world's tables
hold a few thousand rows).

A model fitted on the cluster sums its rows in another order than local mode, so a fitted figure
may differ in its last bits. In a ranked table that also decides the order of two entries whose
scores tie within those bits: such a swap (or, at the list's cut, the other of two tied entries
kept) is the same result, anything else is a difference.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

FLOAT_RTOL = 1e-6
# A fitted score is a sum of terms of order 1, so its last-bit noise is absolute (seen: 4.5e-9
# on a blend logit of -0.0035, 1.3e-6 relative); far below any difference that means something.
FLOAT_ATOL = 1e-7


def frames_equal_within_tolerance(local: pd.DataFrame, cluster: pd.DataFrame, floats: Sequence[str],
                                  keys: Sequence[str] = ()) -> bool:
    """The same rows, ``floats`` equal within FLOAT_RTOL. With ``keys`` holding a ``rank`` and a
    ``score`` float: ranked lists, where entries tied on score may trade places."""
    if len(local) != len(cluster) or list(local.columns) != list(cluster.columns):
        return False
    if "rank" in keys and "score" in floats:
        return _ranked_equal(local, cluster, floats, [k for k in keys if k != "rank"])
    others = [c for c in local.columns if c not in floats]
    local, cluster = (df.sort_values(others + list(floats)).reset_index(drop=True)
                      for df in (local, cluster))
    return local[others].equals(cluster[others]) and _close(local[list(floats)], cluster[list(floats)])


def _ranked_equal(local: pd.DataFrame, cluster: pd.DataFrame, floats: Sequence[str],
                  group: list[str]) -> bool:
    local, cluster = (df.sort_values(group + ["rank"]).reset_index(drop=True) for df in (local, cluster))
    # Rank by rank, the lists have the same shape and the same scores ...
    if not local[group + ["rank"]].equals(cluster[group + ["rank"]]):
        return False
    if not _close(local[["score"]], cluster[["score"]]):
        return False
    # ... and the same entries within each run of tied scores ("block"). The last block of a list
    # may hold different entries: the cut kept one of several tied candidates.
    score = local["score"].to_numpy(float)
    previous = np.roll(score, 1)
    new_list = ~local[group].eq(local[group].shift()).all(axis=1)
    tied = np.isclose(score, previous, rtol=FLOAT_RTOL, atol=FLOAT_ATOL)
    block = np.cumsum(new_list.to_numpy() | ~tied)
    last_block_of_list = pd.Series(block).groupby([local[g] for g in group]).transform("max").to_numpy()
    compared = block != last_block_of_list
    entry = [c for c in local.columns if c not in group and c not in ("rank", "score")]
    entry_text = [c for c in entry if c not in floats]
    entry_floats = [c for c in entry if c in floats]
    local_blocks, cluster_blocks = (
        df.loc[compared, entry].assign(_block=block[compared])
        .sort_values(["_block"] + entry_text + entry_floats).reset_index(drop=True)
        for df in (local, cluster))
    return (local_blocks[["_block"] + entry_text].equals(cluster_blocks[["_block"] + entry_text])
            and _close(local_blocks[entry_floats], cluster_blocks[entry_floats]))


def _close(local: pd.DataFrame, cluster: pd.DataFrame) -> bool:
    return bool(np.allclose(local.to_numpy(float), cluster.to_numpy(float),
                            rtol=FLOAT_RTOL, atol=FLOAT_ATOL, equal_nan=True))
