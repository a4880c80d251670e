"""Counter-based random numbers: every draw is a pure function of (seed, keys, stream).

The generator runs as a Spark job whose batches hold arbitrary slices of users, so no stateful
RNG may be shared across users: a draw for user 17 on day 3 must not depend on which other users
share its partition. SplitMix64 over the combined keys gives that, vectorised with numpy uint64
arithmetic (which wraps modulo 2**64, exactly what the mixer needs).
"""
from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TWO_NEG_53 = 1.0 / float(1 << 53)

# One stream id per kind of draw, so draws never collide across purposes.
S_USER = 1
S_ITEM = 2
S_PROMO = 3
S_SESSIONS = 10
S_SESSION_START = 11
S_VIEWS = 12
S_VIEW_ITEM = 13
S_GAP = 14
S_CLICK = 15
S_CART = 16
S_BUY = 17
S_REMOVE = 18
S_QTY = 19
S_IMPRESSION = 20
S_PROMO_CLICK = 21
S_PROMO_REDEEM = 22
S_REDEEM_DELAY = 23
S_POLICY = 24
S_BOT = 25
S_EVENT_ID = 30
S_SESSION_ID = 31


def _mix(x: np.ndarray) -> np.ndarray:
    # In place after the first add: same bits as the textbook form, fewer temporary arrays.
    z = x + _GOLDEN
    z ^= z >> np.uint64(30)
    z *= _M1
    z ^= z >> np.uint64(27)
    z *= _M2
    z ^= z >> np.uint64(31)
    return z


def _as_u64(key: np.ndarray | int) -> np.ndarray:
    return np.asarray(key).astype(np.int64, copy=False).astype(np.uint64)


class Mixed:
    """A key array passed through the mixer once, to reuse in many draws (same hashes, less work)."""

    __slots__ = ("value",)

    def __init__(self, key: np.ndarray | int) -> None:
        with np.errstate(over="ignore"):
            self.value = _mix(_as_u64(key))


def hash_extend(h: np.ndarray, *keys: np.ndarray | int | Mixed) -> np.ndarray:
    """Continue a hash chain: ``hash_extend(hash_keys(seed, a, b), c) == hash_keys(seed, a, b, c)``.

    So a prefix shared by many draws (say seed, stream, user, day) is hashed once per user and
    day and only extended per session or per view.
    """
    with np.errstate(over="ignore"):
        for key in keys:
            h = _mix(h ^ (key.value if isinstance(key, Mixed) else _mix(_as_u64(key))))
    return np.atleast_1d(h)


def hash_keys(seed: int, *keys: np.ndarray | int | Mixed) -> np.ndarray:
    """A uint64 hash per element of the broadcast ``keys`` (ints, integer arrays or Mixed)."""
    with np.errstate(over="ignore"):
        h = _mix(np.asarray(np.uint64(seed & 0xFFFFFFFFFFFFFFFF)))
    return hash_extend(h, *keys)


def to_uniform(h: np.ndarray) -> np.ndarray:
    """Uniform floats in the open interval (0, 1) from uint64 hashes."""
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * _TWO_NEG_53


def uniform(seed: int, *keys: np.ndarray | int | Mixed) -> np.ndarray:
    """Uniform floats in the open interval (0, 1), one per element of the broadcast keys."""
    return to_uniform(hash_keys(seed, *keys))


def normal(seed: int, *keys: np.ndarray | int) -> np.ndarray:
    """Standard normal draws (Box-Muller on two independent uniforms)."""
    h = hash_keys(seed, *keys)
    u1 = to_uniform(hash_extend(h, 0x5EED1))
    u2 = to_uniform(hash_extend(h, 0x5EED2))
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def geometric(u: np.ndarray, mean: np.ndarray | float) -> np.ndarray:
    """Geometric counts (0, 1, 2, ...) with the given mean, by inverting the CDF at ``u``."""
    mean = np.maximum(np.asarray(mean, dtype=np.float64), 1e-9)
    q = mean / (1.0 + mean)
    return np.floor(np.log(u) / np.log(q)).astype(np.int64)


def exponential(u: np.ndarray, mean: np.ndarray | float) -> np.ndarray:
    """Exponential draws with the given mean from uniforms ``u``."""
    return -np.log(u) * mean


def to_signed(h: np.ndarray) -> np.ndarray:
    """uint64 hashes as int64 (Arrow/Spark long) with the same bits."""
    return h.view(np.int64)
