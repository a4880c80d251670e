"""Thompson sampling's slot probabilities by Monte Carlo, vectorized in numpy over users x draws.

For each user and draw k = 1..K every candidate gets ``score = lift x theta``, theta a Beta(alpha,
beta) draw; the policy's own selection then runs (the best of each promo type when
one-per-type is on, then the best ``slots`` winners; ties to the smaller promotion_id, as
policies.select_slots) and each (promotion, slot) counts the draws that put it there.

Why numpy and not Spark rows: K draws of 20 candidates for 1M users are 2e9 values. As Spark rows
they were exploded, sorted twice by window and sent through the Beta quantile UDF (~1.6 h for 1M
users on 2 cores); here a batch of whole users becomes a (users, K, candidates) array and every
step is an array operation (~50 ns per value).

Draws are keyed, not streamed: candidate (user, promotion) has a 64-bit ``draw_key`` (an xxhash64
of seed, run date, user and promotion made in Spark), and draw k's uniform is SplitMix64's k-th
output from that key, ``mix(draw_key + k * golden)``. The same user gets the same draws in any
batch on any partitioning. These draws are independent of the live draw (draw 0, made in Spark
from its own keys).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from recsys_spark.bandit.beta_quantiles import arm_tables, factorize_arms, quantiles_by_arm

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_MIN_SHAPE = 1e-9  # as sampling.beta_ppf: Beta parameters are floored above 0
MAX_VALUES_PER_CHUNK = 4_000_000  # users are processed in chunks of <= this many (user, draw, candidate)
HITS_SCHEMA = "user_id string, promotion_id string, slot int, hits long"


def keyed_uniforms(keys: np.ndarray, draws: int) -> np.ndarray:
    """Uniforms in (0, 1) of shape keys.shape[:-1] + (draws,) + keys.shape[-1:].

    Args:
        keys: uint64 keys, last axis = candidates.
        draws: K; draw k = 1..K is SplitMix64 output k of each key.
    """
    k = np.arange(1, draws + 1, dtype=np.uint64).reshape((draws, 1))
    z = np.expand_dims(keys, -2) + k * _GOLDEN  # uint64 arithmetic wraps, as SplitMix64 intends
    z = (z ^ (z >> np.uint64(30))) * _MIX_1
    z = (z ^ (z >> np.uint64(27))) * _MIX_2
    z = z ^ (z >> np.uint64(31))
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) / float(2**53)


def slot_hits(pdf: pd.DataFrame, draws: int, slots: int, one_per_type: bool) -> pd.DataFrame:
    """How many of K Thompson draws put each candidate in each slot, for whole users.

    Args:
        pdf: one row per (user, candidate): user_id, promotion_id, promo_type, lift, alpha, beta,
            draw_key (int64). Every candidate of a user must be in the same ``pdf``.
        draws: K.
        slots: slots per user.
        one_per_type: at most one promotion per promo_type per user.

    Returns:
        user_id, promotion_id, slot (1-based), hits (> 0), per HITS_SCHEMA.
    """
    if pdf.empty:
        return pd.DataFrame({"user_id": [], "promotion_id": [], "slot": np.array([], np.int32),
                             "hits": np.array([], np.int64)})
    # Sorted by promotion_id within the user: a lower candidate position is a smaller promotion_id,
    # which is how ties are broken.
    pdf = pdf.sort_values(["user_id", "promotion_id"], kind="stable", ignore_index=True)
    user, _ = pd.factorize(pdf["user_id"])
    sizes = np.bincount(user)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    position = np.arange(len(pdf)) - starts[user]
    width = int(sizes.max())
    promo_type, _ = pd.factorize(pdf["promo_type"], use_na_sentinel=False)
    alpha = np.maximum(pdf["alpha"].to_numpy(np.float64), _MIN_SHAPE)
    beta = np.maximum(pdf["beta"].to_numpy(np.float64), _MIN_SHAPE)
    arm, arm_alpha, arm_beta = factorize_arms(alpha, beta)
    tables, is_exact = arm_tables(arm_alpha, arm_beta)
    columns = {"lift": pdf["lift"].to_numpy(np.float64), "arm": arm, "type": promo_type,
               "key": pdf["draw_key"].to_numpy(np.int64).view(np.uint64)}
    users_per_chunk = max(1, MAX_VALUES_PER_CHUNK // (width * draws))
    found = []
    for first in range(0, len(sizes), users_per_chunk):
        chunk = slice(first, min(first + users_per_chunk, len(sizes)))
        rows = np.arange(starts[chunk][0], starts[chunk][-1] + sizes[chunk][-1])
        padded = _pad({name: values[rows] for name, values in columns.items()}, user[rows] - first,
                      position[rows], len(sizes[chunk]), width)
        arm_of_value = np.broadcast_to(padded["arm"][:, None, :], (len(sizes[chunk]), draws, width))
        theta = quantiles_by_arm(keyed_uniforms(padded["key"], draws), arm_of_value,
                                 arm_alpha, arm_beta, tables, is_exact)
        score = np.where(padded["is_valid"][:, None, :], theta * padded["lift"][:, None, :], -np.inf)
        hits = _count_slots(score, padded["type"] if one_per_type else None, slots)  # (users, width, slots)
        u, pos, slot = np.nonzero(hits)
        found.append(pd.DataFrame({"row": starts[first + u] + pos, "slot": (slot + 1).astype(np.int32),
                                   "hits": hits[u, pos, slot].astype(np.int64)}))
    out = pd.concat(found, ignore_index=True)
    return pd.DataFrame({"user_id": pdf["user_id"].to_numpy()[out["row"]],
                         "promotion_id": pdf["promotion_id"].to_numpy()[out["row"]],
                         "slot": out["slot"], "hits": out["hits"]})


def _pad(columns: dict[str, np.ndarray], user: np.ndarray, position: np.ndarray, n_users: int,
         width: int) -> dict[str, np.ndarray]:
    """(users, width) arrays of each column; ``is_valid`` marks real candidates."""
    padded = {"is_valid": np.zeros((n_users, width), dtype=bool)}
    padded["is_valid"][user, position] = True
    for name, values in columns.items():
        # filler for padding: never valid; type -1 matches no real type
        array = np.full((n_users, width), -1 if name == "type" else 0, dtype=values.dtype)
        array[user, position] = values
        padded[name] = array
    return padded


def _count_slots(score: np.ndarray, promo_type: np.ndarray | None, slots: int) -> np.ndarray:
    """Hits per (user, candidate, slot) of the per-draw selection.

    Args:
        score: (users, draws, width), -inf where there is no candidate.
        promo_type: (users, width), -1 for padding; None: no one-per-type rule.
    """
    n_users, _, width = score.shape
    if promo_type is None:
        winner = np.broadcast_to(np.arange(width), score.shape)
        winner_score = score
    else:
        n_types = int(promo_type.max()) + 1
        # The winner of each type: argmax keeps the first (smallest promotion_id) of equal scores.
        winner_score = np.empty(score.shape[:2] + (n_types,))
        winner = np.empty(score.shape[:2] + (n_types,), dtype=np.intp)
        for t in range(n_types):
            of_type = np.where((promo_type == t)[:, None, :], score, -np.inf)
            winner[..., t] = of_type.argmax(axis=-1)
            winner_score[..., t] = np.take_along_axis(of_type, winner[..., t, None], axis=-1)[..., 0]
    # Winners by score, then by promotion_id (= position); absent types (-inf) sort last.
    order = np.lexsort((winner, -winner_score), axis=-1)[..., :slots]
    chosen = np.take_along_axis(winner, order, axis=-1)
    is_shown = np.take_along_axis(winner_score, order, axis=-1) > -np.inf
    hits = np.zeros((n_users, width, slots), dtype=np.int64)
    base = np.arange(n_users)[:, None] * width
    for s in range(order.shape[-1]):
        flat = (base + chosen[..., s])[is_shown[..., s]]
        hits[..., s] = np.bincount(flat, minlength=n_users * width).reshape(n_users, width)
    return hits
