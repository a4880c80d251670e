"""The realistic world model: catalog tree, users' home categories and drifting interests.

Pure numpy, no Spark and no :class:`~recsys_spark.simulate.world.World` (world.py builds on
this module). What it models and why is in docs/realistic_world.md. In short:

- Catalog: top categories -> subcategories -> leaf categories (``top.sub.leaf``), leaf sizes and
  browse shares Zipf-like, item popularity Zipf-like within the leaf, so a week of a few thousand
  users sees most items once or twice.
- Users: a persona (a shared lifestyle: a home-top mix and a list of leaves), and
  ``interest_slots`` current interests (leaf category plus the item that caught the eye), slot k
  visited with weight ``(k+1) ** -a``. Every day each slot moves on with probability
  ``interest_drift``; the new leaf is related to a current one (a leaf graph shared by all
  users), one of the persona's leaves or a popular leaf of a home top, or a popular leaf
  anywhere. Users therefore come back to the categories they touched and slowly move on; the
  related graph and the personas are the collaborative signal at the category level.

Every draw is a counter-based hash of (seed, stream, user, day, slot, ...), so a user's state
on day d is a pure function of its key: the generator replays days 0..d per chunk of visitors.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys_spark.settings.simulate import RealisticBehaviour, SimulatorConfig
from recsys_spark.simulate import rng

# Streams (beyond rng's own): never reused for another purpose.
S_CATALOG = 40
S_HOME = 41
S_INTEREST = 42
S_DRIFT = 43
S_SESSION_SLOT = 44
S_NAV = 45
S_REVISIT = 46
S_INTENT = 47
_SYLLABLES = ("no", "va", "ki", "ter", "lu", "mar", "zen", "ora", "pix", "del", "ru", "sa", "bo",
              "fi", "ga", "mel", "tor", "qui")


@dataclass(frozen=True)
class RealisticCatalog:
    """The category tree and the item popularity lookup tables.

    Leaves are numbered top by top and, within a top, subcategory by subcategory, so a top's or
    a subcategory's leaves are one contiguous range. Item *positions* are numbered leaf by leaf,
    most popular first; ``pos_item`` maps a position to its (shuffled) item index.
    """

    leaf_top: np.ndarray       # (n_leaves,) top category index
    leaf_sub_lo: np.ndarray    # (n_leaves,) first leaf of the leaf's subcategory
    leaf_sub_n: np.ndarray     # (n_leaves,) leaves in that subcategory
    leaf_names: tuple[str, ...]  # "top.sub.leaf"
    leaf_share: np.ndarray     # (n_leaves,) share of global (popularity-driven) category draws
    top_key: np.ndarray        # (n_leaves,) top + cumulative leaf share within its top
    global_key: np.ndarray     # (n_leaves,) cumulative leaf share over all leaves
    top_lo: np.ndarray         # (n_top,) first leaf of each top
    top_n: np.ndarray          # (n_top,) leaves per top
    top_share: np.ndarray      # (n_top,) summed leaf share per top
    related: np.ndarray        # (n_leaves, related_categories) related leaves
    leaf_pos_lo: np.ndarray    # (n_leaves,) first item position of the leaf
    leaf_pos_n: np.ndarray     # (n_leaves,) items in the leaf
    pos_key: np.ndarray        # (n_items,) leaf + cumulative item share within the leaf
    pos_item: np.ndarray       # (n_items,) item index at each position
    item_leaf: np.ndarray      # (n_items,) leaf of each item
    item_share: np.ndarray     # (n_items,) item's share within its leaf
    persona_top: np.ndarray    # (n_personas, n_top) each persona's home-top distribution
    persona_leaf: np.ndarray   # (n_personas, persona_leaves) each persona's leaves, main first
    persona_cum: np.ndarray    # (persona_leaves,) cumulative Zipf weights of a persona's leaves

    @property
    def n_leaves(self) -> int:
        return len(self.leaf_top)


def _zipf(n: int, exponent: float) -> np.ndarray:
    w = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    return w / w.sum()


def _allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """``total`` units over ``weights``: one each, the rest by largest remainder (exact sum)."""
    n = len(weights)
    extra = total - n
    raw = extra * weights / weights.sum()
    counts = np.floor(raw).astype(np.int64)
    short = extra - int(counts.sum())
    if short > 0:
        counts[np.argsort(-(raw - counts), kind="stable")[:short]] += 1
    return counts + 1


def _hashed_rank(seed: int, purpose: int, n: int) -> np.ndarray:
    """A seeded permutation rank 0..n-1 (rank of a hashed uniform per index)."""
    u = rng.uniform(seed, S_CATALOG, purpose, np.arange(n))
    return np.argsort(np.argsort(u, kind="stable"), kind="stable")


def _in_range(keys: np.ndarray, target: np.ndarray, lo: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Inverse-CDF lookup: the index in [lo, lo + n) whose cumulative key passes ``target``."""
    idx = np.searchsorted(keys, target, side="right")
    return np.clip(idx, lo, lo + n - 1)


def leaf_count(config: SimulatorConfig) -> int:
    """Leaf categories of a realistic config: n_items / items_per_leaf, at least one per sub."""
    assert config.realistic is not None
    n_subs = config.n_top_categories * config.n_sub_categories
    return max(n_subs, min(config.n_items // 2, round(config.n_items / config.realistic.items_per_leaf)))


def build_catalog(config: SimulatorConfig, seed: int, tops: list[str], subs: tuple[str, ...]
                  ) -> RealisticCatalog:
    """The category tree and item popularity of a realistic config (see the module docstring)."""
    model = config.realistic
    assert model is not None
    n_top, n_sub, n_items = config.n_top_categories, config.n_sub_categories, config.n_items
    n_leaves = leaf_count(config)
    # Subcategories differ in size (Zipf over a hashed order); leaves are numbered sub by sub.
    sub_sizes = _allocate(n_leaves, _zipf(n_top * n_sub, 0.8)[_hashed_rank(seed, 1, n_top * n_sub)])
    leaf_subcell = np.repeat(np.arange(n_top * n_sub), sub_sizes)
    sub_lo = np.cumsum(sub_sizes) - sub_sizes
    leaf_sub_lo, leaf_sub_n = sub_lo[leaf_subcell], sub_sizes[leaf_subcell]
    leaf_top = leaf_subcell // n_sub
    # Browse share: Zipf over a hashed order of all leaves.
    share = _zipf(n_leaves, model.leaf_popularity_exponent)[_hashed_rank(seed, 2, n_leaves)]
    top_n = np.bincount(leaf_top, minlength=n_top)
    top_lo = np.cumsum(top_n) - top_n
    top_share = np.bincount(leaf_top, weights=share, minlength=n_top)
    within = np.cumsum(share) - np.repeat(np.cumsum(top_share) - top_share, top_n)
    top_key = leaf_top + within / top_share[leaf_top]
    global_key = np.cumsum(share)
    global_key[-1] = 1.0
    # Related leaves: mostly in the same top (complements), some anywhere; popular ones likelier.
    leaves = np.arange(n_leaves)
    r = np.arange(model.related_categories)
    u_cross = rng.uniform(seed, S_CATALOG, 3, leaves[:, None], r[None, :])
    u_pick = rng.uniform(seed, S_CATALOG, 4, leaves[:, None], r[None, :])
    same_top = _in_range(top_key, leaf_top[:, None] + u_pick, top_lo[leaf_top][:, None],
                         top_n[leaf_top][:, None])
    anywhere = _in_range(global_key, u_pick, 0, n_leaves)
    related = np.where(u_cross < model.cross_top_related, anywhere, same_top)
    # Items per leaf grow with the leaf's share (sub-linearly); popularity Zipf within the leaf.
    leaf_pos_n = _allocate(n_items, share ** 0.7)
    leaf_pos_lo = np.cumsum(leaf_pos_n) - leaf_pos_n
    pos_leaf = np.repeat(leaves, leaf_pos_n)
    rank_in_leaf = np.arange(n_items) - leaf_pos_lo[pos_leaf]
    weight = (rank_in_leaf + 1.0) ** -model.item_popularity_exponent
    leaf_total = np.bincount(pos_leaf, weights=weight, minlength=n_leaves)
    pos_share = weight / leaf_total[pos_leaf]
    cum_before = np.repeat(np.cumsum(leaf_total) - leaf_total, leaf_pos_n)
    pos_key = pos_leaf + (np.cumsum(weight) - cum_before) / leaf_total[pos_leaf]
    pos_item = np.argsort(rng.uniform(seed, S_CATALOG, 5, np.arange(n_items)), kind="stable")
    item_leaf = np.empty(n_items, dtype=np.int64)
    item_leaf[pos_item] = pos_leaf
    item_share = np.empty(n_items)
    item_share[pos_item] = pos_share
    names = tuple(f"{tops[leaf_top[i]]}.{subs[leaf_subcell[i] % n_sub]}.{_leaf_name(seed, i)}"
                  for i in range(n_leaves))
    # Personas: a concentrated home-top mix, and leaves drawn from it by popularity.
    personas, t = np.arange(model.n_personas), np.arange(n_top)
    logits = (np.log(top_share)[None, :]
              + model.home_concentration * rng.normal(seed, S_CATALOG, 7, personas[:, None], t[None, :]))
    persona_top = _softmax(logits)
    m = np.arange(model.persona_leaves)
    p_top = _categorical(np.repeat(np.cumsum(persona_top, axis=1), len(m), axis=0),
                         rng.uniform(seed, S_CATALOG, 8, personas[:, None], m[None, :]).ravel())
    persona_leaf = _in_range(top_key, p_top + rng.uniform(seed, S_CATALOG, 9, personas[:, None],
                                                          m[None, :]).ravel(),
                             top_lo[p_top], top_n[p_top]).reshape(len(personas), len(m))
    return RealisticCatalog(
        leaf_top=leaf_top, leaf_sub_lo=leaf_sub_lo, leaf_sub_n=leaf_sub_n, leaf_names=names,
        leaf_share=share, top_key=top_key, global_key=global_key, top_lo=top_lo, top_n=top_n,
        top_share=top_share, related=related, leaf_pos_lo=leaf_pos_lo, leaf_pos_n=leaf_pos_n,
        pos_key=pos_key, pos_item=pos_item, item_leaf=item_leaf, item_share=item_share,
        persona_top=persona_top, persona_leaf=persona_leaf,
        persona_cum=np.cumsum(_zipf(model.persona_leaves, 1.0)))


def _leaf_name(seed: int, leaf: int) -> str:
    u = rng.uniform(seed, S_CATALOG, 6, leaf, np.arange(2))
    return "".join(_SYLLABLES[int(x * len(_SYLLABLES))] for x in u) + str(leaf)


def _softmax(logits: np.ndarray) -> np.ndarray:
    w = np.exp(logits - logits.max(axis=1, keepdims=True))
    return w / w.sum(axis=1, keepdims=True)


def home(model: RealisticBehaviour, catalog: RealisticCatalog, seed: int, idx: np.ndarray
         ) -> tuple[np.ndarray, np.ndarray]:
    """Each user's persona (some are commoner, Zipf) and home-top distribution (n, n_top):
    the persona's mix, personally tilted."""
    cum = np.cumsum(_zipf(model.n_personas, 0.7))
    persona = np.minimum(np.searchsorted(cum, rng.uniform(seed, S_HOME, 1, idx) * cum[-1],
                                         side="right"), model.n_personas - 1)
    tops = np.arange(len(catalog.top_share))
    logits = (np.log(catalog.persona_top[persona])
              + 0.5 * rng.normal(seed, S_HOME, 2, idx[:, None], tops[None, :]))
    return persona, _softmax(logits)


def slot_weights(model: RealisticBehaviour) -> np.ndarray:
    """Visit weight of each interest slot (sums to 1)."""
    return _zipf(model.interest_slots, model.slot_weight_exponent)


def draw_item_in_leaf(catalog: RealisticCatalog, leaf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """An item index per ``leaf``, by the leaf's popularity, from uniforms ``u``."""
    pos = _in_range(catalog.pos_key, leaf + u, catalog.leaf_pos_lo[leaf], catalog.leaf_pos_n[leaf])
    return catalog.pos_item[pos]


def _categorical(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Row-wise inverse CDF: (n, m) cumulative weights, (n,) uniforms -> (n,) column index."""
    return np.minimum((u[:, None] * cum[:, -1:] >= cum).sum(axis=1), cum.shape[1] - 1)


@dataclass
class Interests:
    """Interest slots of a batch of visitors on a range of days: (day, visitor, slot) arrays."""

    leaf: np.ndarray
    anchor: np.ndarray


def _new_interest(model: RealisticBehaviour, catalog: RealisticCatalog, persona: np.ndarray,
                  home_cum: np.ndarray, current: np.ndarray | None, h: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """A new (leaf, anchor item) per row of ``h`` (hash prefixes), given the current slots."""
    u_mode, u_a, u_b, u_c, u_d = (rng.to_uniform(rng.hash_extend(h, j)) for j in range(5))
    top = _categorical(home_cum, u_a)
    leaf = _in_range(catalog.top_key, top + u_b, catalog.top_lo[top], catalog.top_n[top])
    m = np.minimum(np.searchsorted(catalog.persona_cum, u_b * catalog.persona_cum[-1], side="right"),
                   len(catalog.persona_cum) - 1)
    leaf = np.where(u_d < model.persona_share, catalog.persona_leaf[persona, m], leaf)
    is_global = u_mode >= model.related_share + model.home_share
    leaf = np.where(is_global, _in_range(catalog.global_key, u_b, 0, catalog.n_leaves), leaf)
    if current is not None:
        w = np.cumsum(slot_weights(model))[: current.shape[1]]
        source = current[np.arange(len(h)), _categorical(np.broadcast_to(w, current.shape), u_a)]
        pick = np.minimum((u_b * catalog.related.shape[1]).astype(np.int64), catalog.related.shape[1] - 1)
        leaf = np.where(u_mode < model.related_share, catalog.related[source, pick], leaf)
    return leaf, draw_item_in_leaf(catalog, leaf, u_c)


def interests(model: RealisticBehaviour, catalog: RealisticCatalog, seed: int, keys: np.ndarray,
              persona: np.ndarray, home_top: np.ndarray, last_day: int) -> Interests:
    """Interest slots of ``keys`` (with their persona and home-top weights) on days 0..last_day,
    replayed from day 0."""
    n, k_slots = len(keys), model.interest_slots
    home_cum = np.cumsum(home_top, axis=1)
    mixed_key = rng.Mixed(keys)
    leaf = np.zeros((last_day + 1, n, k_slots), dtype=np.int64)
    anchor = np.zeros_like(leaf)
    state = np.zeros((n, k_slots), dtype=np.int64)
    state_anchor = np.zeros_like(state)
    for k in range(k_slots):  # day 0: slot k may follow a relation of slots 0..k-1
        h = rng.hash_keys(seed, S_INTEREST, mixed_key, 0, k)
        cur = state[:, :k] if k else None
        state[:, k], state_anchor[:, k] = _new_interest(model, catalog, persona, home_cum, cur, h)
    leaf[0], anchor[0] = state, state_anchor
    for d in range(1, last_day + 1):
        h_day = rng.hash_keys(seed, S_DRIFT, mixed_key, d)
        for k in range(k_slots):
            h = rng.hash_extend(h_day, k)
            moves = np.flatnonzero(rng.to_uniform(h) < model.interest_drift)
            if len(moves):
                new_leaf, new_anchor = _new_interest(model, catalog, persona[moves],
                                                     home_cum[moves], state[moves],
                                                     rng.hash_extend(h[moves], 99))
                state[moves, k], state_anchor[moves, k] = new_leaf, new_anchor
        leaf[d], anchor[d] = state, state_anchor
    return Interests(leaf=leaf, anchor=anchor)


def top_items(model: RealisticBehaviour, catalog: RealisticCatalog, slots: np.ndarray,
              anchors: np.ndarray, n_top: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, n_top) items a user is likeliest to view given its slots, and their probabilities.

    A view lands in slot k's leaf with about weight_k * (focus + (1 - focus - sibling) *
    weight_k); there it opens the anchor item w.p. anchor_share, else an item by popularity.
    Candidates are each slot's anchor and its leaf's ``n_top`` most popular items.
    """
    w = slot_weights(model)
    other = 1.0 - model.session_focus - model.sibling_share
    leaf_p = w * model.session_focus + w * other  # each slot is also "another interest" w.p. w
    n, k_slots = slots.shape
    j = np.arange(n_top)
    lo, cnt = catalog.leaf_pos_lo[slots], catalog.leaf_pos_n[slots]
    pos = lo[:, :, None] + np.minimum(j[None, None, :], cnt[:, :, None] - 1)
    valid = j[None, None, :] < cnt[:, :, None]
    item = catalog.pos_item[pos]
    prob = np.where(valid, (1.0 - model.anchor_share) * leaf_p[None, :, None]
                    * catalog.item_share[item], 0.0)
    items = np.concatenate([item.reshape(n, -1), anchors], axis=1)
    probs = np.concatenate([prob.reshape(n, -1), model.anchor_share * leaf_p[None, :]
                            * np.ones((n, k_slots))], axis=1)
    # Merge duplicates (an anchor among the popular items, two slots on one leaf): sort by item
    # and give each run's first entry the run's total (the others get -1).
    order = np.argsort(items, axis=1, kind="stable")
    items = np.take_along_axis(items, order, axis=1)
    probs = np.take_along_axis(probs, order, axis=1)
    m = items.shape[1]
    starts = np.ones_like(items, dtype=bool)
    starts[:, 1:] = items[:, 1:] != items[:, :-1]
    ends = np.ones_like(starts)
    ends[:, :-1] = starts[:, 1:]
    col = np.broadcast_to(np.arange(m), items.shape)
    # Last entry of each entry's run: a running minimum of run ends, from the right.
    run_end = np.minimum.accumulate(np.where(ends, col, m)[:, ::-1], axis=1)[:, ::-1]
    csum = np.cumsum(probs, axis=1)
    total = np.take_along_axis(csum, run_end, axis=1) - csum + probs
    merged = np.where(starts, total, -1.0)
    best = np.argsort(-merged, axis=1, kind="stable")[:, :n_top]
    return np.take_along_axis(items, best, axis=1), np.take_along_axis(merged, best, axis=1)
