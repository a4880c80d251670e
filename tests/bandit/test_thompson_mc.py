"""The numpy Monte Carlo behind Thompson propensities and its Beta quantiles, without Spark:
against scipy, against a plain-Python selection, and on hand-made cases."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta as beta_dist

from recsys_spark.bandit import thompson_mc
from recsys_spark.bandit.beta_quantiles import beta_quantiles
from recsys_spark.bandit.thompson_mc import keyed_uniforms, slot_hits

pytestmark = pytest.mark.unit

SHAPES = [1e-9, 0.05, 0.3, 1.0, 2.5, 10.0, 80.0, 1e3, 1e5]


def test_beta_quantiles_match_scipy_everywhere_including_the_tails():
    rng = np.random.default_rng(7)
    # uniform levels, the 53-bit extremes keyed_uniform can produce, and the table's edges
    q = np.concatenate([rng.random(5000), [2.0**-54, 1e-9, 6.1e-6, 6.2e-6, 0.5, 1 - 1e-6, 1 - 2.0**-53]])
    for a in SHAPES:
        for b in SHAPES:
            got = beta_quantiles(q, np.full(q.size, a), np.full(q.size, b))
            assert np.abs(got - beta_dist.ppf(q, a, b)).max() < 1e-5, (a, b)


def test_beta_quantile_of_a_value_does_not_depend_on_its_batch():
    rng = np.random.default_rng(8)
    q, a, b = rng.random(400), rng.choice([0.3, 2.0, 9.0], 400), rng.choice([1.0, 30.0], 400)
    together = beta_quantiles(q, a, b)
    alone = np.array([beta_quantiles(q[i:i + 1], a[i:i + 1], b[i:i + 1])[0] for i in range(400)])
    assert np.array_equal(together, alone)


def test_keyed_uniforms_are_splitmix64_outputs():
    # SplitMix64 from state 0: the first output is 0xE220A8397B1DCDAF (the published test vector).
    first = keyed_uniforms(np.array([0], dtype=np.uint64), 2)[0, 0]
    assert first == ((0xE220A8397B1DCDAF >> 11) + 0.5) / 2**53
    u = keyed_uniforms(np.arange(2000, dtype=np.uint64), 500)
    assert u.shape == (500, 2000) and u.min() > 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.001 and abs(u.var() - 1 / 12) < 0.001


def _reference_hits(pdf: pd.DataFrame, draws: int, slots: int, one_per_type: bool) -> dict:
    """The selection per (user, draw) in plain Python on the same uniforms."""
    hits: dict[tuple[str, str, int], int] = {}
    for user, rows in pdf.groupby("user_id"):
        rows = rows.sort_values("promotion_id")
        u = keyed_uniforms(rows["draw_key"].to_numpy(np.int64).view(np.uint64), draws)
        for k in range(draws):
            theta = beta_quantiles(u[k], rows["alpha"].to_numpy(), rows["beta"].to_numpy())
            ranked = sorted(zip(theta * rows["lift"].to_numpy(), rows["promotion_id"],
                                rows["promo_type"].fillna("<null>"), strict=True),
                            key=lambda c: (-c[0], c[1]))
            if one_per_type:
                seen: set[str] = set()
                ranked = [c for c in ranked if not (c[2] in seen or seen.add(c[2]))]
            for slot, (_, promotion, _) in enumerate(ranked[:slots], start=1):
                hits[(user, promotion, slot)] = hits.get((user, promotion, slot), 0) + 1
    return hits


@pytest.mark.parametrize("one_per_type", [True, False])
def test_slot_hits_equal_a_plain_python_selection(one_per_type, monkeypatch):
    rng = np.random.default_rng(9)
    rows = []
    for user in range(80):
        for c in rng.choice(12, rng.integers(1, 9), replace=False):
            rows.append((f"u{user:03d}", f"p{c:02d}", None if c % 5 == 0 else f"t{c % 4}",
                         float(rng.choice([0.0, 0.5, 1.0, 1.3])),  # lift 0: ties broken by promotion_id
                         float(rng.choice([1.0, 2.0, 5.0])), float(rng.choice([10.0, 20.0])),
                         int(rng.integers(-2**63, 2**63 - 1))))
    pdf = pd.DataFrame(rows, columns=["user_id", "promotion_id", "promo_type", "lift", "alpha", "beta",
                                      "draw_key"])
    monkeypatch.setattr(thompson_mc, "MAX_VALUES_PER_CHUNK", 3000)  # several chunks
    got = slot_hits(pdf.sample(frac=1.0, random_state=1), draws=40, slots=3, one_per_type=one_per_type)
    assert list(got.columns) == ["user_id", "promotion_id", "slot", "hits"]
    assert {(r.user_id, r.promotion_id, r.slot): r.hits for r in got.itertuples()} == \
        _reference_hits(pdf, 40, 3, one_per_type)


def test_slot_hits_by_hand():
    # Betas so concentrated that every draw ranks by the mean: u1's order is c (0.5 x 1.2),
    # a (0.3), b (0.2, same type as a), d (0.1); u2 has one candidate and two slots.
    def arm(mean: float) -> tuple[float, float]:
        return mean * 1e9, (1 - mean) * 1e9

    pdf = pd.DataFrame([("u1", "a", "t1", 1.0, *arm(0.3), 11), ("u1", "b", "t1", 1.0, *arm(0.2), 12),
                        ("u1", "c", "t2", 1.2, *arm(0.5), 13), ("u1", "d", "t3", 1.0, *arm(0.1), 14),
                        ("u2", "a", "t1", 0.0, *arm(0.3), 15)],
                       columns=["user_id", "promotion_id", "promo_type", "lift", "alpha", "beta", "draw_key"])
    got = slot_hits(pdf, draws=10, slots=2, one_per_type=True).sort_values(["user_id", "slot"])
    expected = pd.DataFrame({"user_id": ["u1", "u1", "u2"], "promotion_id": ["c", "a", "a"],
                             "slot": np.array([1, 2, 1], np.int32), "hits": np.array([10, 10, 10], np.int64)})
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected)
    no_types = slot_hits(pdf, draws=10, slots=3, one_per_type=False)
    assert sorted(zip(no_types["user_id"], no_types["promotion_id"], no_types["slot"], strict=True)) == [
        ("u1", "a", 2), ("u1", "b", 3), ("u1", "c", 1), ("u2", "a", 1)]
